/**
 * A small POSIX shell-words reader, enough to tell which programs a compile or task command
 * starts (doctor checks they exist). It does not run or expand anything: words whose meaning
 * depends on expansion (`$CC`, `$(…)`) are reported as "cannot tell" rather than guessed.
 */

export interface Word {
  kind: 'word';
  /** The word after quote removal (expansions left as written). */
  text: string;
  /** The word as written, quotes included. */
  raw: string;
  /** Contains `$…`, `${…}`, `$(…)` or backquotes outside single quotes. */
  expands: boolean;
  /** Inner text of each `$(…)` / backquote substitution, for checking the commands in them. */
  substitutions: string[];
}

export interface Operator {
  kind: 'op';
  op: string;
}

export type Token = Word | Operator;

export class ShellSyntaxError extends Error {}

const CONTROL_OPS = ['&&', '||', ';;', '|&', ';', '|', '&', '(', ')'];
const REDIRECT_OPS = ['<<<', '<<-', '&>>', '<<', '>>', '>&', '<&', '&>', '>|', '<>', '>', '<'];

/** Splits a command line into words and operators (newlines become `;`). */
export function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  const heredocs: { delimiter: string; stripTabs: boolean }[] = [];
  let i = 0;
  let word: Word | undefined;
  const start = () => (word ??= { kind: 'word', text: '', raw: '', expands: false, substitutions: [] });
  const end = () => {
    if (!word) return;
    // The word right after `<<` is a here-document's delimiter.
    const previous = tokens.at(-1);
    if (previous?.kind === 'op' && (previous.op === '<<' || previous.op === '<<-')) heredocs.at(-1)!.delimiter = word.text;
    tokens.push(word);
    word = undefined;
  };

  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t') {
      end();
      i++;
      continue;
    }
    if (c === '\n') {
      end();
      tokens.push({ kind: 'op', op: ';' });
      i++;
      i = skipHeredocBodies(input, i, heredocs);
      continue;
    }
    if (c === '#' && !word) {
      while (i < input.length && input[i] !== '\n') i++;
      continue;
    }
    const redirect = REDIRECT_OPS.find((op) => input.startsWith(op, i));
    if (redirect) {
      // A redirection may carry its file descriptor (`2>&1`): that number is not a word.
      if (word && /^\d+$/.test(word.raw)) word = undefined;
      end();
      tokens.push({ kind: 'op', op: redirect });
      i += redirect.length;
      if (redirect === '<<' || redirect === '<<-') heredocs.push({ delimiter: '', stripTabs: redirect === '<<-' });
      continue;
    }
    const control = CONTROL_OPS.find((op) => input.startsWith(op, i));
    if (control) {
      end();
      tokens.push({ kind: 'op', op: control });
      i += control.length;
      continue;
    }
    const w = start();
    const from = i;
    if (c === "'") {
      const close = input.indexOf("'", i + 1);
      if (close < 0) throw new ShellSyntaxError('unterminated single quote');
      w.text += input.slice(i + 1, close);
      i = close + 1;
    } else if (c === '"') {
      i = readDoubleQuoted(input, i + 1, w);
    } else if (c === '\\') {
      if (input[i + 1] !== '\n') w.text += input[i + 1] ?? '';
      i += 2;
    } else if (c === '$' || c === '`') {
      i = readExpansion(input, i, w);
    } else {
      w.text += c;
      i++;
    }
    w.raw += input.slice(from, i);
  }
  end();
  return tokens;
}

/** Here-document bodies are data, not commands: skip their lines up to the delimiter line. */
function skipHeredocBodies(input: string, i: number, heredocs: { delimiter: string; stripTabs: boolean }[]): number {
  while (heredocs.length) {
    const { delimiter, stripTabs } = heredocs.shift()!;
    for (;;) {
      if (i >= input.length) return i;
      const nl = input.indexOf('\n', i);
      const bodyLine = input.slice(i, nl < 0 ? input.length : nl);
      i = nl < 0 ? input.length : nl + 1;
      if ((stripTabs ? bodyLine.replace(/^\t+/, '') : bodyLine) === delimiter) break;
    }
  }
  return i;
}

function readDoubleQuoted(input: string, i: number, w: Word): number {
  while (i < input.length) {
    const c = input[i]!;
    if (c === '"') return i + 1;
    if (c === '\\' && i + 1 < input.length && '$`"\\\n'.includes(input[i + 1]!)) {
      if (input[i + 1] !== '\n') w.text += input[i + 1];
      i += 2;
    } else if (c === '$' || c === '`') {
      i = readExpansion(input, i, w);
    } else {
      w.text += c;
      i++;
    }
  }
  throw new ShellSyntaxError('unterminated double quote');
}

/** `$name`, `${…}`, `$(…)`, `$((…))` or a backquote substitution starting at `i`. */
function readExpansion(input: string, i: number, w: Word): number {
  const from = i;
  if (input[i] === '`') {
    let j = i + 1;
    while (j < input.length && input[j] !== '`') j += input[j] === '\\' ? 2 : 1;
    if (j >= input.length) throw new ShellSyntaxError('unterminated backquote');
    w.substitutions.push(input.slice(i + 1, j).replace(/\\([$`\\])/g, '$1'));
    i = j + 1;
  } else if (input.startsWith('$((', i)) {
    i = closing(input, i + 1, '(', ')');
  } else if (input.startsWith('$(', i)) {
    const end = closing(input, i + 1, '(', ')');
    w.substitutions.push(input.slice(i + 2, end - 1));
    i = end;
  } else if (input.startsWith('${', i)) {
    i = closing(input, i + 1, '{', '}');
  } else {
    const name = /^\$([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(input.slice(i));
    if (!name) {
      w.text += '$';
      return i + 1;
    }
    i += name[0].length;
  }
  w.expands = true;
  w.text += input.slice(from, i);
  return i;
}

/** Index just past the bracket closing the one at `i`, skipping quoted text. */
function closing(input: string, i: number, open: string, close: string): number {
  let depth = 0;
  for (let j = i; j < input.length; j++) {
    const c = input[j]!;
    if (c === '\\') j++;
    else if (c === "'") {
      j = input.indexOf("'", j + 1);
      if (j < 0) break;
    } else if (c === '"') {
      j++;
      while (j < input.length && input[j] !== '"') j += input[j] === '\\' ? 2 : 1;
    } else if (c === open) depth++;
    else if (c === close && --depth === 0) return j + 1;
  }
  throw new ShellSyntaxError(`unterminated ${open === '(' ? '$(' : '${'}`);
}

// ---------------------------------------------------------------------------------------------

/** What a command line starts, as far as can be told without running it. */
export interface CommandAnalysis {
  /** Programs started by name or path (first word of each simple command), in order, unique. */
  programs: string[];
  /** Words in command position whose program only the shell knows (`$CC`, `$(which cc)`). */
  unknown: string[];
  /** Functions the command line defines itself. */
  functions: string[];
  /** Set when the command may define programs doctor cannot see (`source`, `.`, `alias`, `eval`). */
  indirect?: string;
}

/** Reserved words that precede a command (`if make; then …`): the next word is the command. */
const LEADING_KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', 'time']);
/** Reserved words that close a construct. */
const CLOSING_KEYWORDS = new Set(['fi', 'done', '}', 'esac']);
/** Shell builtins (POSIX and the common bash ones): never looked up on PATH. */
const BUILTINS = new Set([
  ':', '.', 'alias', 'bg', 'break', 'cd', 'command', 'continue', 'declare', 'echo', 'eval', 'exec', 'exit', 'export', 'false', 'fc', 'fg',
  'getopts', 'hash', 'jobs', 'kill', 'local', 'printf', 'pwd', 'read', 'readonly', 'return', 'set', 'shift', 'source', 'test', '[', '[[',
  'times', 'trap', 'true', 'type', 'typeset', 'ulimit', 'umask', 'unalias', 'unset', 'wait', 'pushd', 'popd', 'shopt', 'let',
]);
/** Programs and builtins that run the command after their own options (`env FOO=1 cargo …`), with the options that take a value. */
const WRAPPER_OPTIONS: Record<string, string[]> = { env: ['-u', '-C', '--unset', '--chdir'], exec: ['-a'], command: [], nohup: [], nice: ['-n', '--adjustment'], time: ['-f', '-o', '--format', '--output'] };
const WRAPPERS = new Set(Object.keys(WRAPPER_OPTIONS));
const INDIRECT = new Set(['source', '.', 'alias', 'eval']);

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*\+?=/;

/** Reads the command line; throws ShellSyntaxError when the shell itself would reject it. */
export function analyseCommand(command: string): CommandAnalysis {
  const result: CommandAnalysis = { programs: [], unknown: [], functions: [] };
  collect(tokenize(command), result);
  result.programs = [...new Set(result.programs)].filter((p) => !result.functions.includes(p));
  result.unknown = [...new Set(result.unknown)];
  return result;
}

function collect(tokens: Token[], result: CommandAnalysis): void {
  let caseDepth = 0;
  let i = 0;
  while (i < tokens.length) {
    // One simple command: words up to the next control operator.
    const words: Word[] = [];
    let redirectTarget = false;
    while (i < tokens.length && !(tokens[i]!.kind === 'op' && CONTROL_OPS.includes((tokens[i] as Operator).op))) {
      const token = tokens[i]!;
      if (token.kind === 'op') redirectTarget = true;
      else {
        for (const inner of token.substitutions) collect(tokenize(inner), result);
        if (!redirectTarget) words.push(token);
        redirectTarget = false;
      }
      i++;
    }
    const terminator = tokens[i]?.kind === 'op' ? (tokens[i] as Operator).op : undefined;
    i++;
    // A function definition: `name() …`.
    if (terminator === '(' && words.length === 1 && tokens[i]?.kind === 'op' && (tokens[i] as Operator).op === ')') {
      result.functions.push(words[0]!.text);
      i++;
      continue;
    }
    // In a case body, `pattern)` is not a command.
    if (caseDepth > 0 && terminator === ')' && words.length > 0 && !words.some((w) => w.text === 'esac')) continue;
    caseDepth += simpleCommand(words, result);
  }
}

/** Records the program of one simple command; returns +1/-1 when it opens/closes a `case`. */
function simpleCommand(words: Word[], result: CommandAnalysis): number {
  let k = 0;
  /** Set after a wrapper: the options of it that take a value. */
  let afterWrapper: string[] | undefined;
  while (k < words.length) {
    const w = words[k]!;
    if (ASSIGNMENT.test(w.raw)) {
      k++;
      continue;
    }
    if (afterWrapper && w.text.startsWith('-') && !w.expands) {
      k += afterWrapper.includes(w.text) ? 2 : 1;
      continue;
    }
    if (w.expands) {
      result.unknown.push(w.raw);
      return 0;
    }
    const name = w.text;
    if (w.raw === name && LEADING_KEYWORDS.has(name)) {
      k++;
      continue;
    }
    if (w.raw === name && CLOSING_KEYWORDS.has(name)) return name === 'esac' ? -1 : 0;
    if (w.raw === name && (name === 'for' || name === 'select' || name === 'in')) return 0;
    if (w.raw === name && name === 'case') return 1;
    if (w.raw === name && name === 'function') {
      if (words[k + 1]) result.functions.push(words[k + 1]!.text);
      return 0;
    }
    if (INDIRECT.has(name)) result.indirect ??= `it runs \`${name}\``;
    if (name === 'command' && words[k + 1] && /^-[vV]/.test(words[k + 1]!.text)) return 0;
    if (WRAPPERS.has(name)) {
      if (!BUILTINS.has(name) && name !== 'time') result.programs.push(name);
      afterWrapper = WRAPPER_OPTIONS[name]!;
      k++;
      continue;
    }
    if (!BUILTINS.has(name)) result.programs.push(name);
    return 0;
  }
  return 0;
}
