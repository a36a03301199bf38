import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parse as parseYaml, parseDocument, stringify } from 'yaml';
import type { ConfigIssue } from '../types.js';
import { ConfigError, parseConfigText } from './load.js';
import type { ResolvedConfig } from './resolved.js';

/**
 * Config variants: `-c base.yaml -c local.yaml` merges the later files over the first (maps merge
 * key by key, lists and values are replaced), then `--set a.b=value` entries (value parsed as
 * YAML) over that; the result is validated as one config whose folder is the first file's. Every
 * problem is reported in the file (or --set) that supplied the field.
 */
export async function loadConfigVariants(files: string[], sets: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<ResolvedConfig> {
  const layers: { file: string; text: string; value: unknown }[] = [];
  for (const f of files) {
    const file = path.resolve(f);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
      throw new ConfigError([{ file, line: 0, column: 0, path: '', message: reason }]);
    }
    const doc = parseDocument(text);
    if (doc.errors.length) throw new ConfigError(parseConfigText(text, file, env).issues);
    layers.push({ file, text, value: doc.toJS({ maxAliasCount: 100 }) ?? {} });
  }
  let merged: unknown = layers[0]!.value;
  for (const layer of layers.slice(1)) merged = mergeOver(merged, layer.value);
  const fromSet = new Map<string, string>();
  for (const entry of sets) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new ConfigError([{ file: '--set', line: 0, column: 0, path: entry, message: 'expected --set key.path=value' }]);
    const key = entry.slice(0, eq);
    merged = setPath(merged, key.split('.'), parseYaml(entry.slice(eq + 1)) as unknown);
    fromSet.set(key, entry);
  }
  const base = layers[0]!.file;
  const { config, issues } = parseConfigText(stringify(merged), base, env);
  if (config) return config;
  throw new ConfigError(issues.map((issue) => relocate(issue, layers, fromSet)));
}

function isMap(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

export function mergeOver(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeOver(base[k], v);
  return out;
}

function setPath(target: unknown, keys: string[], value: unknown): unknown {
  const [head, ...rest] = keys;
  if (head === undefined) return value;
  const obj = isMap(target) ? { ...target } : {};
  obj[head] = setPath(obj[head], rest, value);
  return obj;
}

/** Point an issue at the layer that last defined its field (or its nearest ancestor). */
function relocate(issue: ConfigIssue, layers: { file: string; text: string }[], fromSet: Map<string, string>): ConfigIssue {
  const segments = issue.path ? issue.path.split('.') : [];
  for (let n = segments.length; n > 0; n--) {
    const key = segments.slice(0, n).join('.');
    if (fromSet.has(key)) return { ...issue, file: `--set ${fromSet.get(key)}`, line: 0, column: 0 };
  }
  for (const layer of [...layers].reverse()) {
    const lines = new LineCounter();
    const doc = parseDocument(layer.text, { lineCounter: lines });
    if (segments.length && !doc.hasIn(segments.map((s) => (/^\d+$/.test(s) ? Number(s) : s))) && !doc.hasIn(segments.slice(0, -1))) continue;
    let node: unknown = doc.contents;
    let offset = 0;
    for (const s of segments) {
      const next = (node as { get?: (k: unknown, keep: boolean) => unknown } | null | undefined)?.get?.(/^\d+$/.test(s) ? Number(s) : s, true);
      if (!next) break;
      node = next;
      offset = (next as { range?: [number, number] }).range?.[0] ?? offset;
    }
    const pos = lines.linePos(offset);
    return { ...issue, file: layer.file, line: pos.line, column: pos.col };
  }
  return { ...issue, file: layers[0]!.file };
}
