import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { glob } from 'tinyglobby';

/**
 * File times have a coarse clock (a kernel tick, 1-10 ms; more on network and shared file
 * systems): two writes within one tick give equal size, mtime and ctime. A time this close to
 * when it was read cannot vouch that nothing was written since (git's "racily clean" rule).
 */
export const RACY_MS = 2000;

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Content hash of every file matching `patterns` under `root` (paths, modes and bytes), plus
 * `salt` (the stage's own settings), so an input-skip never survives a config change.
 */
export async function hashInputs(root: string, patterns: string[], salt: string): Promise<string> {
  const files = (await glob(patterns, { cwd: root, dot: true, onlyFiles: true })).sort();
  const hash = createHash('sha256').update(salt).update('\0');
  for (const relative of files) {
    const absolute = path.join(root, relative);
    const info = await stat(absolute);
    hash.update(`${relative}\0${info.mode & 0o777}\0${await hashFile(absolute)}\n`);
  }
  return hash.digest('hex');
}
