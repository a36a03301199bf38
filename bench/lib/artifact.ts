import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { EXAMPLE } from './fixture.js';

export const MiB = 1024 * 1024;

/** The example's static binary, compiled once per bench run. */
export async function baseBinary(tmpRoot: string): Promise<Buffer> {
  const out = path.join(tmpRoot, 'base-hello');
  await execa('gcc', ['-static', '-O2', '-Wall', '-o', out, path.join(EXAMPLE, 'src/main.c')]);
  return readFile(out);
}

/**
 * The static binary padded with fresh random bytes to `total` bytes: a real ELF (the image
 * stage's checks accept it) whose content, and so image and layer, is new every time.
 */
export async function writePadded(file: string, base: Buffer, total: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp`;
  await writeFile(temp, Buffer.concat([base, randomBytes(Math.max(0, total - base.length))]), { mode: 0o755 });
  await rename(temp, file);
}
