import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const STATE_DIR_NAME = '.tightloop';

/**
 * Creates `folder` (inside `<root>/.tightloop`). When this creates `.tightloop` itself, it also
 * writes a `.gitignore` of `*` there, so the state (history, per-service state) never lands in
 * the user's git — as pytest and other tools do with their caches. A `.gitignore` the user
 * edited or removed later is left alone.
 */
export async function ensureStateFolder(root: string, folder = path.join(root, STATE_DIR_NAME)): Promise<void> {
  const top = path.join(root, STATE_DIR_NAME);
  const created = await mkdir(top, { recursive: true });
  if (created !== undefined) {
    await writeFile(path.join(top, '.gitignore'), '# Created by Tightloop: its run state stays out of git.\n*\n', { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  if (folder !== top) await mkdir(folder, { recursive: true });
}
