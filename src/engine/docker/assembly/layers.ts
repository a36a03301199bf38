import { createHash } from 'node:crypto';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import picomatch from 'picomatch';
import tar from 'tar-stream';
import { addTarEntry } from './tar-entry.js';
import type { ContextEntry } from '../context/build-context.js';
import type { CopyStep } from './spec.js';

/** One tar entry of a layer, path without a leading slash. */
export interface LayerEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  abs?: string;
  linkname?: string;
  /** Content hash from the context listing (hashContext), when known: what keys the layer, and what
   * the image's tag was computed from (checked while the layer is read). */
  sha256?: string;
}

export interface LayerRecipe {
  createdBy: string;
  /** An image.layers entry: its name, and the key files (config-relative globs) that also key it. */
  declared?: { name: string; key?: string[] };
  /** Sorted by name; every parent folder is present before its children. */
  entries: LayerEntry[];
}

export type LayerCompression = 'gzip' | 'none';

export interface LayerBlob {
  recipe: LayerRecipe;
  compression: LayerCompression;
  mediaType: string;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids). */
  diffId: string;
  /** sha256 and size of the blob as uploaded. */
  digest: string;
  size: number;
  /** The gzipped blob, kept when small enough: compressing it again for the upload would double the cost. */
  bytes?: Buffer;
}

/** Gzipped layers up to this size stay in memory between the image and push stages. */
const KEEP_COMPRESSED_BYTES = 256 * 1024 * 1024;

/** A fixed mtime and owner: the same staged bytes always give the same layer digest. */
const EPOCH = new Date(0);
const DIR_MODE = 0o755;

/** The layer of one COPY: its sources mapped to image paths the way the builder copies them. */
export function copyLayer(step: CopyStep, entries: ContextEntry[]): LayerRecipe {
  const byName = new Map<string, LayerEntry>();
  const put = (entry: ContextEntry, target: string) => {
    const name = target.replace(/^\/+/, '');
    if (!name) return; // the image root itself
    byName.set(name, {
      name,
      type: entry.type,
      mode: entry.mode & 0o7777,
      uid: step.uid,
      gid: step.gid,
      size: entry.type === 'file' ? entry.size : 0,
      abs: entry.abs,
      linkname: entry.linkname,
      sha256: entry.sha256,
    });
  };
  for (const source of step.sources) {
    if (source === '.') {
      // The whole context lands in the destination: every entry, the first one too.
      for (const entry of entries) put(entry, path.posix.join(step.dest, entry.path));
      continue;
    }
    for (const root of rootsOf(source, entries)) {
      if (root.type === 'dir') {
        // A folder's contents land in the destination (not the folder itself).
        const prefix = root.path + '/';
        put(root, step.dest);
        for (const below of entries) if (below.path.startsWith(prefix)) put(below, path.posix.join(step.dest, below.path.slice(prefix.length)));
      } else {
        put(root, step.destIsDir ? path.posix.join(step.dest, path.posix.basename(root.path)) : step.dest);
      }
    }
  }
  return { createdBy: step.createdBy, entries: withParents([...byName.values()]) };
}

/** A layer holding only folders (WORKDIRs the builder would have created). */
export function folderLayer(createdBy: string, folders: string[]): LayerRecipe {
  const entries = folders.map((f) => f.replace(/^\/+/, '')).filter(Boolean).map((name) => ({ name, type: 'dir' as const, mode: DIR_MODE, uid: 0, gid: 0, size: 0 }));
  return { createdBy, entries: withParents(entries) };
}

function rootsOf(source: string, entries: ContextEntry[]): ContextEntry[] {
  const isMatch = /[*?[]/.test(source) ? picomatch(source, { dot: true }) : (p: string) => p === source;
  return entries.filter((e) => isMatch(e.path));
}

function withParents(entries: LayerEntry[]): LayerEntry[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const entry of entries) {
    for (let dir = path.posix.dirname(entry.name); dir !== '.' && !byName.has(dir); dir = path.posix.dirname(dir)) {
      byName.set(dir, { name: dir, type: 'dir', mode: DIR_MODE, uid: 0, gid: 0, size: 0 });
    }
  }
  // Plain code-unit order: a parent ("a") sorts before its children ("a/…").
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The layer as an uncompressed tar stream, made while it is read. A file that changes size fails
 * it; with `checkHashes`, so does a file whose bytes are not the ones its content hash (what the
 * tag came from) names, hashed in the same read that feeds the tar.
 */
export function packLayer(recipe: LayerRecipe, signal: AbortSignal, checkHashes = true): Readable {
  const pack = tar.pack();
  const entry = (header: Partial<tar.Header> & { name: string }, abs?: string, sha256?: string) => addTarEntry(pack, header, abs, signal, checkHashes ? sha256 : undefined);
  (async () => {
    for (const e of recipe.entries) {
      if (signal.aborted) throw signal.reason;
      const base = { name: e.type === 'dir' ? `${e.name}/` : e.name, mode: e.mode, uid: e.uid, gid: e.gid, uname: '', gname: '', mtime: EPOCH };
      if (e.type === 'dir') await entry({ ...base, type: 'directory' });
      else if (e.type === 'symlink') await entry({ ...base, type: 'symlink', linkname: e.linkname ?? '' });
      else await entry({ ...base, type: 'file', size: e.size }, e.abs, e.sha256);
    }
    pack.finalize();
  })().catch((error: unknown) => pack.destroy(error instanceof Error ? error : new Error(String(error))));
  return pack as unknown as Readable;
}

/**
 * The blob as uploaded: the tar, gzipped (level 1: fast, and deterministic for the same bytes) or not.
 * Its files are not hashed again one by one: the blob's digest was measured from checked bytes (or
 * remembered under a key naming their hashes), and the registry takes an upload only when its bytes
 * have that digest (PUT ?digest=, else DIGEST_INVALID). A file changed since fails the upload,
 * before any manifest names it, without a second hash of every file on every push.
 */
export function openLayer(layer: LayerBlob, signal: AbortSignal): Readable {
  if (layer.bytes) return Readable.from([layer.bytes]);
  const tarStream = packLayer(layer.recipe, signal, false);
  if (layer.compression === 'none') return tarStream;
  const gzip = createGzip({ level: 1 });
  tarStream.on('error', (error) => gzip.destroy(error));
  return tarStream.pipe(gzip);
}

export const LAYER_MEDIA_TYPE: Record<LayerCompression, string> = {
  gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  none: 'application/vnd.docker.image.rootfs.diff.tar',
};

/** Reads the layer once: diff ID, blob digest and size (the bytes themselves are made again for upload). */
export async function measureLayer(recipe: LayerRecipe, compression: LayerCompression, signal: AbortSignal): Promise<LayerBlob> {
  const diff = createHash('sha256');
  const blob = compression === 'none' ? diff : createHash('sha256');
  let size = 0;
  const kept: Buffer[] = [];
  const tarStream = packLayer(recipe, signal);
  const counted = new PassThrough();
  if (compression === 'none') {
    await pipeline(tarStream, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        diff.update(chunk);
        size += chunk.length;
      }
    });
  } else {
    const gzip = createGzip({ level: 1 });
    const tee = pipeline(tarStream, async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        diff.update(chunk);
        yield chunk;
      }
    }, gzip, counted);
    // Handled at once: when the tar fails, the loop below throws first, and the pipeline's own
    // rejection must not surface later as an unhandled one.
    const teeFailure = tee.then(
      () => undefined,
      (error: unknown) => error,
    );
    for await (const chunk of counted as AsyncIterable<Buffer>) {
      blob.update(chunk);
      size += chunk.length;
      if (size <= KEEP_COMPRESSED_BYTES) kept.push(chunk);
    }
    const failure = await teeFailure;
    if (failure) throw failure;
  }
  const diffId = `sha256:${diff.digest('hex')}`;
  const bytes = compression === 'gzip' && size <= KEEP_COMPRESSED_BYTES ? Buffer.concat(kept) : undefined;
  return { recipe, compression, mediaType: LAYER_MEDIA_TYPE[compression], diffId, digest: compression === 'none' ? diffId : `sha256:${blob.digest('hex')}`, size, bytes };
}
