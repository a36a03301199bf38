import { DockerfileParser, type Instruction } from 'dockerfile-ast';

/**
 * The parts of a Dockerfile the preflight and the error mapping need: instructions in build-step
 * order with their lines, stages with their base, and COPY/ADD sources with variables expanded.
 */
export interface DockerfileInstruction {
  keyword: string;
  /** 1-based first and last line (continuations included). */
  line: number;
  endLine: number;
  /** Source text on one line, as the classic builder prints it in "Step n/m : …". */
  text: string;
  args: string[];
  flags: Record<string, string>;
  /** Index into `stages`; -1 for ARGs before the first FROM. */
  stage: number;
}

export interface DockerfileStage {
  /** Image or earlier stage name, variables expanded when possible. */
  base: string;
  name?: string;
  line: number;
}

export interface ParsedDockerfile {
  text: string;
  instructions: DockerfileInstruction[];
  stages: DockerfileStage[];
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Map<string, string | undefined>;
}

export interface CopySource {
  instruction: DockerfileInstruction;
  /** As written. */
  raw: string;
  /** Variables expanded; undefined when a variable has no known value (then it cannot be checked). */
  expanded?: string;
}

const KNOWN = new Set([
  'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT',
  'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL',
]);

export function parseDockerfile(text: string, buildArgs: Record<string, string> = {}): ParsedDockerfile {
  const ast = DockerfileParser.parse(text);
  const instructions: DockerfileInstruction[] = [];
  const stages: DockerfileStage[] = [];
  const globalArgs = new Map<string, string | undefined>();
  for (const node of ast.getInstructions()) {
    const keyword = node.getKeyword().toUpperCase();
    const range = node.getRange();
    const { args, flags } = argumentsOf(node);
    if (keyword === 'FROM') {
      const vars = new Map([...globalArgs].map(([k, v]) => [k, buildArgs[k] ?? v]));
      const base = args[0] ?? '';
      const name = args[1]?.toUpperCase() === 'AS' ? args[2] : undefined;
      stages.push({ base: expandVariables(base, vars) ?? base, name, line: range.start.line + 1 });
    } else if (keyword === 'ARG' && stages.length === 0) {
      for (const arg of args) {
        const eq = arg.indexOf('=');
        globalArgs.set(eq < 0 ? arg : arg.slice(0, eq), eq < 0 ? undefined : unquote(arg.slice(eq + 1)));
      }
    }
    instructions.push({
      keyword,
      line: range.start.line + 1,
      endLine: range.end.line + 1,
      text: oneLineSource(node),
      args,
      flags,
      stage: stages.length - 1,
    });
  }
  return { text, instructions, stages, globalArgs };
}

/** Problems the classic builder would reject before doing anything, with their line. */
export function syntaxProblems(parsed: ParsedDockerfile): { line: number; message: string }[] {
  const problems: { line: number; message: string }[] = [];
  if (parsed.instructions.length === 0) return [{ line: 1, message: 'the Dockerfile has no instructions' }];
  for (const instruction of parsed.instructions) {
    if (!KNOWN.has(instruction.keyword)) {
      problems.push({ line: instruction.line, message: `unknown instruction "${instruction.keyword}"` });
    } else if (instruction.stage < 0 && instruction.keyword !== 'ARG') {
      problems.push({ line: instruction.line, message: `${instruction.keyword} before the first FROM (only ARG may come first)` });
    } else if ((instruction.keyword === 'COPY' || instruction.keyword === 'ADD') && instruction.args.length < 2) {
      problems.push({ line: instruction.line, message: `${instruction.keyword} needs at least one source and a destination` });
    } else if (instruction.keyword === 'FROM' && instruction.args.length === 0) {
      problems.push({ line: instruction.line, message: 'FROM needs an image' });
    }
  }
  if (parsed.stages.length === 0) problems.push({ line: 1, message: 'the Dockerfile has no FROM' });
  return problems;
}

/** Sources of every COPY/ADD that reads the build context (not `--from`, not URLs). */
export function contextSources(parsed: ParsedDockerfile, buildArgs: Record<string, string>): CopySource[] {
  const out: CopySource[] = [];
  const scope = new Map<string, string | undefined>();
  let stage = -2;
  for (const instruction of parsed.instructions) {
    if (instruction.stage !== stage) {
      stage = instruction.stage;
      scope.clear();
    }
    if (instruction.keyword === 'ARG' || instruction.keyword === 'ENV') {
      for (const [name, value] of assignments(instruction)) {
        // An ARG inside a stage takes the build arg, else its own default, else the global default.
        scope.set(name, instruction.keyword === 'ARG' ? (buildArgs[name] ?? value ?? parsed.globalArgs.get(name)) : value);
      }
      continue;
    }
    if (instruction.keyword !== 'COPY' && instruction.keyword !== 'ADD') continue;
    if (instruction.flags.from !== undefined) continue;
    const sources = instruction.args.slice(0, -1);
    for (const raw of sources) {
      if (raw.startsWith('<<')) continue; // heredoc: inline content, not a context path
      if (instruction.keyword === 'ADD' && /^(https?:\/\/|git@|git:\/\/)/.test(raw)) continue;
      out.push({ instruction, raw, expanded: expandVariables(raw, scope) });
    }
  }
  return out;
}

/** True when the stage (following `FROM <earlier stage>` links) starts from scratch. */
export function stageIsScratch(parsed: ParsedDockerfile, index: number): boolean {
  const seen = new Set<number>();
  let current = index;
  while (current >= 0 && !seen.has(current)) {
    seen.add(current);
    const base = parsed.stages[current]!.base.toLowerCase();
    if (base === 'scratch') return true;
    current = parsed.stages.findIndex((s, i) => i < current && s.name?.toLowerCase() === base);
  }
  return false;
}

/** External images the build starts from (not scratch, not earlier stages). */
export function baseImages(parsed: ParsedDockerfile): string[] {
  const names = new Set(parsed.stages.map((s) => s.name?.toLowerCase()).filter(Boolean));
  return [...new Set(parsed.stages.map((s) => s.base).filter((b) => b.toLowerCase() !== 'scratch' && !names.has(b.toLowerCase())))];
}

/** One LABEL instruction for Tightloop's labels (one build step, not one per label). */
export function labelInstruction(labels: Record<string, string>): string {
  return `LABEL ${Object.entries(labels).map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ')}`;
}

/**
 * The Dockerfile for a service without one: the staged files land at the image root and the first
 * one is the entrypoint. `COPY . /` keeps it one layer; the tar's own .dockerignore keeps this
 * Dockerfile out of the image.
 *
 * `metadataFirst`: LABEL and ENTRYPOINT before the COPY, so from the second build on the builder
 * takes them from its cache and only the COPY layer is new (each metadata step otherwise costs a
 * container create). Only for the engine's own platform: on FROM scratch the classic builder gives
 * metadata steps before any COPY the engine's architecture, so a cross-platform build copies first.
 */
export function generateDockerfile(base: string, entrypoint: string, labels: Record<string, string>, metadataFirst = true): string {
  const metadata = [labelInstruction(labels), `ENTRYPOINT ${JSON.stringify(['/' + entrypoint])}`];
  const copy = ['COPY . /'];
  return ['# generated by Tightloop: the staging folder is the whole image', `FROM ${base}`, ...(metadataFirst ? [...metadata, ...copy] : [...copy, ...metadata]), ''].join('\n');
}

/** `${A}`, `$A`, `${A:-x}`, `${A:+x}`; undefined if a variable has no known value. */
export function expandVariables(word: string, vars: Map<string, string | undefined>): string | undefined {
  let unknown = false as boolean; // set inside the replace callback
  const result = word.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced?: string, op?: string, alt?: string, bare?: string) => {
    if (match === '\\$') return '$';
    const name = (braced ?? bare)!;
    const value = vars.get(name);
    if (op === '-') return value ? value : (alt ?? '');
    if (op === '+') return value ? (alt ?? '') : '';
    if (value === undefined) unknown = true;
    return value ?? '';
  });
  return unknown ? undefined : result;
}

function argumentsOf(node: Instruction): { args: string[]; flags: Record<string, string> } {
  const flags: Record<string, string> = {};
  const withFlags = node as Instruction & { getFlags?: () => { getName(): string; getValue(): string | null }[] };
  for (const flag of withFlags.getFlags?.() ?? []) flags[flag.getName().toLowerCase()] = flag.getValue() ?? '';
  const content = (node.getArgumentsContent() ?? '').trim();
  const hasFlagMethod = typeof withFlags.getFlags === 'function';
  // JSON (exec) form: ["a b", "/dst/"]. The library keeps flags out of the content for COPY/ADD.
  const jsonText = hasFlagMethod ? content.replace(/^(--\S+\s+)*/, '') : content;
  if (jsonText.startsWith('[')) {
    try {
      const parsed = JSON.parse(jsonText) as unknown;
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return { args: parsed as string[], flags };
    } catch {
      // not valid JSON: the builder treats it as shell form too
    }
  }
  let args = node.getArguments().map((a) => a.getValue());
  if (!hasFlagMethod) {
    // FROM --platform=…: the library keeps flags in the arguments of non-modifiable instructions
    for (const arg of args.filter((a) => a.startsWith('--'))) {
      const eq = arg.indexOf('=');
      flags[arg.slice(2, eq < 0 ? undefined : eq).toLowerCase()] = eq < 0 ? '' : arg.slice(eq + 1);
    }
    args = args.filter((a) => !a.startsWith('--'));
  }
  return { args, flags };
}

function assignments(instruction: DockerfileInstruction): [string, string | undefined][] {
  // ENV A B (legacy form) sets A to "B".
  if (instruction.keyword === 'ENV' && instruction.args.length >= 2 && !instruction.args[0]!.includes('=')) {
    return [[instruction.args[0]!, instruction.args.slice(1).join(' ')]];
  }
  return instruction.args.map((arg) => {
    const eq = arg.indexOf('=');
    return [eq < 0 ? arg : arg.slice(0, eq), eq < 0 ? undefined : unquote(arg.slice(eq + 1))];
  });
}

/**
 * A Dockerfile word's value, as the builder's shell lexer reads it: double-quoted parts lose their
 * quotes and keep `\x` escapes as `x`; single-quoted parts are taken literally; a `\x` outside
 * quotes is `x`. Quotes may sit mid-word (`a"b c"` → `ab c`). Variables are not expanded here.
 */
export function unquote(value: string): string {
  return value.replace(/"((?:\\.|[^"\\])*)"|'([^']*)'|\\(.)/g, (_m, dq?: string, sq?: string, esc?: string) => (dq !== undefined ? dq.replace(/\\(.)/g, '$1') : (sq ?? esc ?? '')));
}

function oneLineSource(node: Instruction): string {
  const raw = `${node.getInstruction()} ${node.getRawArgumentsContent() ?? ''}`;
  return raw.replace(/\\\r?\n/g, ' ').replace(/\s+/g, ' ').trim();
}
