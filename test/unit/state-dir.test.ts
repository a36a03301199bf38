import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ensureStateFolder } from '../../src/engine/state-dir.js';
import { engineIn, workspace } from '../helpers/workspace.js';

describe('.tightloop state folder', () => {
  it('ignores itself: a run in a git checkout adds nothing to `git status`', async () => {
    const dir = await workspace({ 'src/main.c': 'int main(void) { return 0; }\n' });
    execFileSync('git', ['init', '-q'], { cwd: dir });
    const { engine } = await engineIn(
      dir,
      `version: 1
services:
  api:
    compile: { command: "mkdir -p out && cp src/main.c out/api" }
    stage: { dir: staged, files: [{ from: out/api, to: api }] }
`,
    );
    const [summary] = await engine.run(['api']);
    assert.equal(summary!.status, 'ok', summary!.error);
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: dir, encoding: 'utf8' });
    assert.doesNotMatch(status, /\.tightloop/, status);
    assert.match(await readFile(path.join(dir, '.tightloop', '.gitignore'), 'utf8'), /^\*$/m);
  });

  it('leaves a .gitignore the user changed alone', async () => {
    const dir = await workspace();
    await ensureStateFolder(dir);
    await writeFile(path.join(dir, '.tightloop', '.gitignore'), '# mine\n');
    await ensureStateFolder(dir, path.join(dir, '.tightloop', 'state'));
    assert.equal(await readFile(path.join(dir, '.tightloop', '.gitignore'), 'utf8'), '# mine\n');
  });
});
