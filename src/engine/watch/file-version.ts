import { stat } from 'node:fs/promises';
import { hashFile, RACY_MS } from '../hash.js';

/**
 * One version of a file as the loop last acted on it. Size and mtime alone cannot tell a
 * same-size edit whose mtime was put back (`cp -p`, `rsync -t`, some `git stash pop`s) from an
 * echo of the same bytes, so small files also keep their content hash, and ctime (which no tool
 * can set back) says whether anything was written at all.
 */
export type FileVersion = { ino: number; size: number; mtimeMs: number; ctimeMs: number; sha256?: string; racy?: boolean; folder?: boolean } | 'missing';

/** Files up to this size are hashed when recorded; larger ones count as changed on any write. */
const HASH_LIMIT = 4 * 1024 * 1024;

export async function readVersion(file: string): Promise<FileVersion> {
  const readAt = Date.now();
  try {
    const info = await stat(file);
    const racy = info.ctimeMs >= readAt - RACY_MS;
    if (!info.isFile()) return { ino: info.ino, size: 0, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, racy, folder: info.isDirectory() };
    const version = { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, racy };
    return info.size <= HASH_LIMIT ? { ...version, sha256: await hashFile(file).catch(() => undefined) } : version;
  } catch {
    return 'missing';
  }
}

/** True when `current` holds the same bytes as `previous` (an echo, not a change). */
export function sameVersion(previous: FileVersion | undefined, current: FileVersion): boolean {
  if (previous === undefined) return false;
  if (previous === 'missing' || current === 'missing') return previous === current;
  if (previous.ino !== current.ino || previous.size !== current.size || previous.mtimeMs !== current.mtimeMs) return false;
  // Same size and times: the content decides when it is known (a second same-size write within
  // one clock tick leaves every time as it was).
  if (previous.sha256 !== undefined && current.sha256 !== undefined) return previous.sha256 === current.sha256;
  // Too big to hash: equal times only vouch for the bytes when they were not racy when read.
  return previous.ctimeMs === current.ctimeMs && !previous.racy;
}
