import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Collects the messages of every `l10n.t('…')` call under src/extension into the shape of
 * l10n/bundle.l10n.json (English text → English text): the file a translator copies to
 * bundle.l10n.<locale>.json. Used by scripts/gen-l10n.ts and by the test that keeps the file current.
 */
export function extractMessages(root: string): { messages: Record<string, string>; problems: string[] } {
  const found = new Set<string>();
  const problems: string[] = [];
  for (const file of tsFiles(root)) {
    const text = readFileSync(file, 'utf8');
    const call = /\bl10n\.t\(\s*/g;
    for (let m = call.exec(text); m; m = call.exec(text)) {
      const at = m.index + m[0].length;
      const literal = readLiteral(text, at);
      if (literal === undefined) {
        const line = text.slice(0, at).split('\n').length;
        problems.push(`${path.relative(root, file)}:${line}: l10n.t needs a string literal as its first argument`);
      } else found.add(literal);
    }
  }
  const messages: Record<string, string> = {};
  for (const message of [...found].sort()) messages[message] = message;
  return { messages, problems };
}

function tsFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) files.push(...tsFiles(full));
    else if (entry.endsWith('.ts') && !full.endsWith('l10n.ts')) files.push(full);
  }
  return files.sort();
}

/** A '…' or "…" literal (or a `…` one without substitutions) starting at `at`, unescaped. */
function readLiteral(text: string, at: number): string | undefined {
  const quote = text[at];
  if (quote !== "'" && quote !== '"' && quote !== '`') return undefined;
  let out = '';
  for (let i = at + 1; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      const next = text[++i]!;
      out += next === 'n' ? '\n' : next === 't' ? '\t' : next;
      continue;
    }
    if (quote === '`' && ch === '$' && text[i + 1] === '{') return undefined;
    if (ch === quote) return out;
    out += ch;
  }
  return undefined;
}
