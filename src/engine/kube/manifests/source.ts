import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { globSync } from 'tinyglobby';
import { LineCounter, parseAllDocuments } from 'yaml';
import { runCommand } from '../../compile/run-command.js';
import type { ResolvedConfig, ResolvedManifests } from '../../config/resolved.js';
import { StageError } from '../../stages/stage.js';
import type { LogStream } from '../../types.js';

/**
 * Reading the manifests: files, folders and globs in config order, then the render command's
 * stdout. Every object keeps where it came from (file, document index, line), so any later
 * complaint — bad YAML, not an object, unknown kind, rejected by the API server — can say where.
 */

export interface ManifestSource {
  /** Path relative to the config folder, or "render: <command>". */
  file: string;
  /** 1-based document index inside the file. */
  document: number;
  /** 1-based line of the document's first line. */
  line: number;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface SourcedObject {
  object: KubeObject;
  source: ManifestSource;
}

export const where = (s: ManifestSource) => `${s.file} document ${s.document} (line ${s.line})`;
export const objectLabel = (o: { kind: string; metadata: { name: string } }) => `${o.kind}/${o.metadata.name}`;

const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;

/**
 * Expand files, folders and globs into files, in config order, each once. Synchronous, like the
 * reads in readManifestTexts: a few small files, and every async hop of a no-op run's decision
 * queues behind the libuv threadpool (shared with hashing and the watcher) — measured under load,
 * that made the decision's p95 ten times slower than the work itself.
 */
export function manifestFiles(paths: string[], root: string): string[] {
  const out: string[] = [];
  const add = (f: string) => {
    if (!out.includes(f)) out.push(f);
  };
  for (const p of paths) {
    if (/[*?[\]{}]/.test(path.relative(root, p))) {
      const found = globSync([path.relative(root, p)], { cwd: root, onlyFiles: true, dot: false }).sort();
      if (found.length === 0) throw new StageError(`The manifest glob ${path.relative(root, p)} matches no file.`, { hint: 'Fix deploy.manifests in tightloop.yaml.' });
      for (const f of found) add(path.join(root, f));
      continue;
    }
    let info;
    try {
      info = statSync(p);
    } catch {
      throw new StageError(`Manifest ${path.relative(root, p)} does not exist.`, { hint: 'Fix deploy.manifests in tightloop.yaml.' });
    }
    if (info.isDirectory()) {
      const found = globSync(['**/*'], { cwd: p, onlyFiles: true, dot: false }).filter((f) => MANIFEST_EXTENSIONS.test(f)).sort();
      for (const f of found) add(path.join(p, f));
    } else add(p);
  }
  return out;
}

/** Parse a multi-document YAML text into objects; empty documents (a trailing ---) are skipped. */
export function parseManifestText(text: string, file: string): SourcedObject[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  if (!Array.isArray(docs)) {
    // An empty stream parses to an EmptyStream: no objects.
    return [];
  }
  const out: SourcedObject[] = [];
  docs.forEach((doc, i) => {
    const firstLine = lines.linePos(doc.contents?.range[0] ?? doc.range[0]).line;
    const source: ManifestSource = { file, document: i + 1, line: firstLine };
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const at = lines.linePos(e.pos[0]);
      throw new StageError(`${file} document ${i + 1} (line ${at.line}) is not valid YAML: ${e.message.split('\n')[0]}`);
    }
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) throw new StageError(`${where(source)} is not a Kubernetes object (expected a mapping with apiVersion, kind and metadata.name).`);
    const v = value as Record<string, unknown>;
    if (typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items)) {
      // kubectl's List wrapper (what `kubectl get -o yaml` prints): its items are the objects.
      (v.items as unknown[]).forEach((item) => out.push({ object: checkObject(item, source), source }));
      return;
    }
    out.push({ object: checkObject(v, source), source });
  });
  return out;
}

function checkObject(value: unknown, source: ManifestSource): KubeObject {
  const v = value as Record<string, unknown> | null;
  const missing = [
    typeof v?.apiVersion === 'string' && v.apiVersion ? undefined : 'apiVersion',
    typeof v?.kind === 'string' && v.kind ? undefined : 'kind',
    typeof (v?.metadata as { name?: unknown } | undefined)?.name === 'string' ? undefined : 'metadata.name',
  ].filter(Boolean);
  if (!v || typeof v !== 'object' || missing.length) {
    throw new StageError(`${where(source)} is not a Kubernetes object: ${missing.join(', ')} missing.`, {
      hint: 'generateName is not supported: Tightloop must find the object again to update and prune it.',
    });
  }
  return v as unknown as KubeObject;
}

export interface RenderLogger {
  (text: string, stream?: LogStream): void;
}

/** The manifests as text, before parsing: each file in config order, then the render output. */
export interface ManifestTexts {
  /** `file` is relative to the config folder, or "render: <command>" for the render output. */
  parts: { file: string; text: string }[];
}

/** Reuses a render output instead of running the command (see RenderCache); absent = always render. */
export interface RenderReuse {
  get(spec: NonNullable<ResolvedManifests['render']>): Promise<string | undefined>;
  put(spec: NonNullable<ResolvedManifests['render']>, text: string): void;
}

/** Read every manifest file and run the render command (unless `reuse` has its output): no parsing. */
export async function readManifestTexts(config: ResolvedConfig, m: ResolvedManifests, signal: AbortSignal, log: RenderLogger, reuse?: RenderReuse): Promise<ManifestTexts> {
  const parts: ManifestTexts['parts'] = [];
  for (const file of manifestFiles(m.paths, config.root)) {
    parts.push({ file: path.relative(config.root, file), text: readFileSync(file, 'utf8') });
  }
  if (m.render) {
    let text = await reuse?.get(m.render);
    if (text === undefined) {
      text = await render(m.render, signal, log);
      reuse?.put(m.render, text);
    } else log(`render inputs unchanged (render.watch): reused the last output of "${m.render.command}"`);
    parts.push({ file: `render: ${m.render.command}`, text });
  }
  return { parts };
}

export function parseManifestTexts(texts: ManifestTexts): SourcedObject[] {
  return texts.parts.flatMap((p) => parseManifestText(p.text, p.file));
}

/** All objects of a service's manifests: files first (config order), then the render output. */
export async function loadManifests(config: ResolvedConfig, m: ResolvedManifests, signal: AbortSignal, log: RenderLogger): Promise<SourcedObject[]> {
  return parseManifestTexts(await readManifestTexts(config, m, signal, log));
}

/** Run the render command like a compile step: own process group, timeout, stderr streamed. */
async function render(spec: NonNullable<ResolvedManifests['render']>, signal: AbortSignal, log: RenderLogger): Promise<string> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  try {
    await runCommand({ command: spec.command, cwd: spec.cwd, env: spec.env, timeoutMs: spec.timeoutMs }, signal, (text, stream) => {
      if (stream === 'stdout') stdout.push(text);
      else {
        stderr.push(text);
        if (stderr.length > 20) stderr.shift();
        log(text, 'stderr');
      }
    });
  } catch (err) {
    if (err instanceof StageError && !signal.aborted) {
      throw new StageError(`render ${err.message}`, { evidence: stderr.length ? stderr : err.options.evidence, hint: 'The render command must print the manifests as YAML on stdout.' });
    }
    throw err;
  }
  log(`rendered ${stdout.length} lines with "${spec.command}"`);
  return stdout.join('\n');
}
