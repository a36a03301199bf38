import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

/**
 * docs/architecture.md is the map of the code. A folder or file it names that no longer exists
 * makes the map lie: move or rename something, and this test asks for the map to follow.
 */
describe('docs/architecture.md names only what exists', () => {
  const doc = readFileSync('docs/architecture.md', 'utf8');
  const folders = [...doc.matchAll(/^\| `([^`]+\/)` \|/gm)].map((m) => m[1]!);
  // Files and folders named in the text: `src/engine/types.ts`, `docker/handoffs.ts`, `scripts/…`.
  const paths = [...doc.matchAll(/`((?:src|test|scripts|webview|agent|bench|docs)\/[\w./-]+|[\w-]+\/[\w-]+\.ts)`/g)].map((m) => m[1]!);

  it('lists the top folders of the code', () => {
    assert.ok(folders.length >= 15, `only ${folders.length} folders in the table`);
    for (const folder of ['src/engine/', 'src/cli/', 'src/extension/', 'src/shared/', 'webview/', 'test/', 'bench/']) assert.ok(folders.includes(folder), `${folder} missing from the table`);
  });

  it('every folder in the table exists', () => {
    for (const folder of folders) assert.ok(existsSync(folder), `${folder} is named in docs/architecture.md but does not exist`);
  });

  it('every file named in the text exists', () => {
    for (const named of paths) {
      const candidates = [named, path.join('src/engine', named)];
      assert.ok(candidates.some((p) => existsSync(p)), `${named} is named in docs/architecture.md but exists neither as ${candidates.join(' nor ')}`);
    }
  });

  it('names every engine sub-folder', () => {
    const engineFolders = readFileSyncDir('src/engine');
    for (const folder of engineFolders) assert.ok(doc.includes(`src/engine/${folder}/`), `src/engine/${folder}/ exists but docs/architecture.md does not say what it holds`);
  });
});

function readFileSyncDir(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
}
