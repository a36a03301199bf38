import ignore from '@balena/dockerignore';
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import picomatch from 'picomatch';
import tar from 'tar-stream';
import { RACY_MS } from '../../hash.js';
import { addTarEntry } from '../assembly/tar-entry.js';

/** One entry of the build context, path relative to the context root (posix). */
export interface ContextEntry {
  path: string;
  abs: string;
  type: 'file' | 'dir' | 'symlink';
  size: number;
  mode: number;
  linkname?: string;
  /** sha256 of the content (files), filled by `hashContext`. */
  sha256?: string;
  /** Stat signature, so an unchanged file is not hashed again (staging renames a new file in place). */
  signature: string;
  /** ctime when listed: a file changed just before the listing is not cached (see RACY_MS). */
  changedAtMs?: number;
}

export interface DockerignoreRule {
  /** 1-based line in .dockerignore. */
  line: number;
  pattern: string;
  negated: boolean;
}

export interface BuildContextFiles {
  root: string;
  mode: 'staging' | 'compat';
  entries: ContextEntry[];
  /** Sum of file sizes. */
  bytes: number;
  /** When the listing began (Date.now()). */
  listedAt?: number;
  /** Compatibility mode: the root's .dockerignore rules (in order). */
  rules: DockerignoreRule[];
  dockerignoreText?: string;
}

/** Names Tightloop adds to every context tar; the engine drops them before COPY sees the context. */
export const DOCKERFILE_NAME = '.tightloop.Dockerfile';

/** Lists the staging folder: it is the whole context, so nothing is filtered. */
export async function listStaging(dir: string, signal: AbortSignal): Promise<BuildContextFiles> {
  const listedAt = Date.now();
  const entries = await walk(dir, () => false, signal);
  // A .dockerignore here would only be our own; it is regenerated in the tar.
  const kept = entries.filter((e) => e.path !== '.dockerignore' && e.path !== DOCKERFILE_NAME);
  return { root: dir, mode: 'staging', entries: kept, bytes: sumBytes(kept), rules: [], listedAt };
}

/**
 * Lists a compatibility-mode context root, filtered by its .dockerignore like `docker build` does.
 * `ownState` (the config's .tightloop folder) never enters a context: its history and state
 * change on every run, and would give identical images different tags.
 */
export async function listCompat(root: string, signal: AbortSignal, ownState?: string): Promise<BuildContextFiles> {
  const text = await readFile(path.join(root, '.dockerignore'), 'utf8').catch(() => undefined);
  const rules = text === undefined ? [] : parseDockerignore(text);
  const matcher = ignore().add(rules.map((r) => (r.negated ? '!' : '') + r.pattern));
  const negations = rules.filter((r) => r.negated).map((r) => r.pattern);
  const state = ownState && isInside(root, ownState) ? path.relative(root, ownState).split(path.sep).join('/') : undefined;
  // An ignored folder is pruned whole (target/, node_modules/ stay cheap) unless a "!" rule could
  // bring back something below it: then it is walked, and each entry judged.
  const skip = (rel: string, isDir: boolean) => rel === state || (matcher.ignores(rel) && (!isDir || !couldMatchBelow(rel, negations)));
  const listedAt = Date.now();
  const entries = await walk(root, skip, signal);
  const kept = entries.filter((e) => e.type !== 'dir' || !matcher.ignores(e.path));
  return { root, mode: 'compat', entries: kept, bytes: sumBytes(kept), rules, dockerignoreText: text, listedAt };
}

/**
 * Could a "!" pattern match something below the folder `dir` (or `dir` itself, or re-include it
 * through a parent)? Segment by segment, as BuildKit's pattern matcher decides whether to walk an
 * excluded directory: a literal or wildcard segment must match the folder's segment, and "**"
 * can match anything from there on. When unsure, walk (never drop a re-included file).
 */
export function couldMatchBelow(dir: string, negations: string[]): boolean {
  const dirSegments = dir.split('/');
  return negations.some((pattern) => {
    const segments = path.posix.normalize(pattern).replace(/^\/+|\/+$/g, '').split('/');
    for (let i = 0; i < dirSegments.length; i++) {
      const segment = segments[i];
      if (segment === undefined || segment.includes('**')) return true;
      if (!picomatch.isMatch(dirSegments[i]!, segment, { dot: true })) return false;
    }
    return true;
  });
}

function isInside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

export function parseDockerignore(text: string): DockerignoreRule[] {
  const rules: DockerignoreRule[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).trim().replace(/^\/+/, '');
    if (pattern) rules.push({ line: index + 1, pattern, negated });
  });
  return rules;
}

/**
 * The .dockerignore rule that keeps `relPath` out of the context (the last matching rule wins,
 * a "!" rule brings a path back), or undefined when the path is not excluded.
 */
export function excludingRule(rules: DockerignoreRule[], relPath: string): DockerignoreRule | undefined {
  let decisive: DockerignoreRule | undefined;
  for (const rule of rules) {
    if (ignore().add(rule.pattern).ignores(relPath)) decisive = rule;
  }
  return decisive && !decisive.negated ? decisive : undefined;
}

/**
 * Fills `sha256` of every file and returns a hash of the whole listing: paths, types, modes,
 * contents, link targets. A file is only read when nothing vouches for its content: not `cache`
 * (same stat signature as last time), nor `staged` (the stage step hashed it while copying it in,
 * moments ago, and renamed it into place; same size and mode). A file changed within RACY_MS of
 * the listing is not cached: a second same-size write in the same clock tick would keep its
 * signature, and the cache would name the new bytes by the old hash (a stale image, tagged as new).
 */
export async function hashContext(
  files: BuildContextFiles,
  cache: Map<string, { signature: string; sha256: string }>,
  signal: AbortSignal,
  staged: { path: string; size: number; mode: number; sha256: string }[] = [],
): Promise<string> {
  const whole = createHash('sha256');
  const stagedByPath = new Map(staged.map((f) => [f.path, f]));
  for (const entry of files.entries) {
    if (signal.aborted) throw signal.reason;
    if (entry.type === 'file') {
      const cached = cache.get(entry.abs);
      const known = files.mode === 'staging' ? stagedByPath.get(entry.path) : undefined;
      if (known && known.size === entry.size && (known.mode & 0o7777) === (entry.mode & 0o7777) && /^[0-9a-f]{64}$/.test(known.sha256)) {
        entry.sha256 = known.sha256;
      } else if (cached && cached.signature === entry.signature) {
        entry.sha256 = cached.sha256;
      } else {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(entry.abs, { signal })) hash.update(chunk as Buffer);
        entry.sha256 = hash.digest('hex');
        const settled = files.listedAt !== undefined && entry.changedAtMs !== undefined && entry.changedAtMs < files.listedAt - RACY_MS;
        if (settled) cache.set(entry.abs, { signature: entry.signature, sha256: entry.sha256 });
        else cache.delete(entry.abs);
      }
    }
    whole.update(`${entry.type}\0${entry.path}\0${(entry.mode & 0o7777).toString(8)}\0${entry.sha256 ?? entry.linkname ?? ''}\n`);
  }
  return whole.digest('hex');
}

/** A fixed mtime makes equal content give equal layers (and lets the registry skip them). */
const EPOCH = new Date(0);

/**
 * The context as a tar stream, made while it is sent: no temp tarball. `extra` files (the
 * Dockerfile, .dockerignore) come first. A file that changes size mid-send fails the stream.
 */
export function packContext(files: BuildContextFiles, extra: { name: string; content: string }[], signal: AbortSignal): Readable {
  const pack = tar.pack();
  const base = { uid: 0, gid: 0, uname: '', gname: '', mtime: EPOCH };
  const add = (header: Partial<tar.Header> & { name: string }, content?: string) =>
    new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (content === undefined) pack.entry(header, done);
      else pack.entry(header, content, done);
    });
  const addFile = (header: Partial<tar.Header> & { name: string }, abs: string, sha256?: string) => addTarEntry(pack, header, abs, signal, sha256);
  (async () => {
    for (const file of extra) await add({ ...base, name: file.name, mode: 0o644 }, file.content);
    for (const entry of files.entries) {
      if (signal.aborted) throw signal.reason;
      const mode = entry.mode & 0o7777;
      if (entry.type === 'dir') await add({ ...base, name: entry.path, type: 'directory', mode });
      else if (entry.type === 'symlink') await add({ ...base, name: entry.path, type: 'symlink', linkname: entry.linkname ?? '', mode });
      else await addFile({ ...base, name: entry.path, size: entry.size, mode }, entry.abs, entry.sha256);
    }
    pack.finalize();
  })().catch((error: unknown) => pack.destroy(error instanceof Error ? error : new Error(String(error))));
  return pack as unknown as Readable;
}

async function walk(root: string, skip: (rel: string, isDir: boolean) => boolean, signal: AbortSignal): Promise<ContextEntry[]> {
  const out: ContextEntry[] = [];
  // Below the root, an entry may vanish between the listing and its lstat (a file saved by
  // rename, another service's staging folder swapped in): it is simply not in this context, and
  // the change that removed it triggers its own run. Only a missing root is an error.
  const gone = <T>(promise: Promise<T>, below: boolean) => promise.catch((error: unknown) => (below && (error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : Promise.reject(error)));
  const visit = async (dir: string) => {
    if (signal.aborted) throw signal.reason;
    const names = (await gone(readdir(dir), dir !== root))?.sort() ?? [];
    for (const name of names) {
      const abs = path.join(dir, name);
      const rel = path.relative(root, abs).split(path.sep).join('/');
      const info = await gone(lstat(abs), true);
      if (!info) continue;
      const isDir = info.isDirectory();
      if (skip(rel, isDir)) continue;
      if (isDir) {
        out.push(entryOf(abs, rel, 'dir', info));
        await visit(abs);
      } else if (info.isSymbolicLink()) {
        const linkname = await gone(readlink(abs), true);
        if (linkname !== undefined) out.push({ ...entryOf(abs, rel, 'symlink', info), linkname });
      } else if (info.isFile()) {
        out.push(entryOf(abs, rel, 'file', info));
      }
      // sockets, fifos, devices: never part of a build context
    }
  };
  await visit(root);
  return out;
}

function entryOf(abs: string, rel: string, type: ContextEntry['type'], info: Stats): ContextEntry {
  return {
    path: rel,
    abs,
    type,
    size: type === 'file' ? info.size : 0,
    mode: info.mode,
    signature: `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}:${info.mode}`,
    changedAtMs: info.ctimeMs,
  };
}

function sumBytes(entries: ContextEntry[]): number {
  return entries.reduce((sum, e) => sum + e.size, 0);
}
