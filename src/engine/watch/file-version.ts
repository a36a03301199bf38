import { stat } from 'node:fs/promises';
import { hashFile } from '../hash.js';

/**
 * One version of a file as the loop last acted on it. Size and mtime alone cannot tell a
 * same-size edit whose mtime was put back (`cp -p`, `rsync -t`, some `git stash pop`s) from an
 * echo of the same bytes, so small files also keep their content hash, and ctime (which no tool
 * can set back) says whether anything was written at all.
 */
export type FileVersion = { ino: number; size: number; mtimeMs: number; ctimeMs: number; sha256?: string } | 'missing';

/** Files up to this size are hashed when recorded; larger ones count as changed on any write. */
const HASH_LIMIT = 4 * 1024 * 1024;

export async function readVersion(file: string): Promise<FileVersion> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return { ino: info.ino, size: 0, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
    const version = { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
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
  if (previous.ctimeMs === current.ctimeMs) return true;
  // Written since, yet size and mtime are as before: only the content can say.
  return previous.sha256 !== undefined && previous.sha256 === current.sha256;
}
