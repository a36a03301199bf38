import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const STATE_DIR_NAME = '.tightloop';
const GITIGNORE = '# Created by Tightloop: its run state stays out of git.\n*\n';

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
    await writeFile(path.join(top, '.gitignore'), GITIGNORE, { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  if (folder !== top) await mkdir(folder, { recursive: true });
}

/** `ensureStateFolder` for callers that must not yield (the process-group record before a spawn). */
export function ensureStateFolderSync(root: string, folder: string): void {
  const top = path.join(root, STATE_DIR_NAME);
  if (mkdirSync(top, { recursive: true }) !== undefined) {
    try {
      writeFileSync(path.join(top, '.gitignore'), GITIGNORE, { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  if (folder !== top) mkdirSync(folder, { recursive: true });
}
