import assert from 'node:assert/strict';
import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { engineIn, put, workspace } from '../helpers/workspace.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe('staging', () => {
  const config = `version: 1
services:
  api:
    stage:
      dir: staged
      files:
        - { from: build/api, to: bin/api }
        - { from: assets, to: static }
        - { from: build/conf, to: conf, mode: "0600" }
`;

  it('copies files and folders, keeps modes, hashes each file and the set', async () => {
    const dir = await workspace({ 'build/api': 'ELF…', 'assets/a.css': 'a{}', 'assets/img/b.svg': '<svg/>', 'build/conf': 'k=v' });
    await chmod(path.join(dir, 'build/api'), 0o751);
    const { engine } = await engineIn(dir, config);
    const [run] = await engine.run(['api']);
    assert.equal(run!.status, 'ok', run!.error);
    assert.equal(((await stat(path.join(dir, 'staged/bin/api'))).mode & 0o777).toString(8), '751');
    assert.equal(((await stat(path.join(dir, 'staged/conf'))).mode & 0o777).toString(8), '600');
    assert.equal(await readFile(path.join(dir, 'staged/static/img/b.svg'), 'utf8'), '<svg/>');
    const state = JSON.parse(await readFile(path.join(dir, '.tightloop/state/api.json'), 'utf8'));
    const files = state.lastSuccess.stagedFiles as { path: string; sha256: string }[];
    assert.deepEqual(files.map((f) => f.path), ['bin/api', 'conf', 'static/a.css', 'static/img/b.svg']);
    assert.equal(files[0]!.sha256, sha('ELF…'));
    assert.match(state.lastSuccess.stagingHash, /^[0-9a-f]{64}$/);
  });

  it('leaves no temp files, removes files no longer configured, and reports a missing artifact clearly', async () => {
    const dir = await workspace({ 'build/api': 'x', 'assets/a.css': '', 'build/conf': '' });
    const { engine } = await engineIn(dir, config);
    await engine.run(['api']);
    await put(dir, 'assets/a.css', 'changed');
    const [second] = await engine.run(['api']);
    assert.equal(second!.status, 'ok');
    const all = await readdir(path.join(dir, 'staged'), { recursive: true });
    assert.ok(!all.some((f) => f.includes('.tl-stage-')), all.join(','));

    const { engine: smaller } = await engineIn(dir, config.replace('        - { from: assets, to: static }\n', ''));
    await smaller.run(['api']);
    assert.deepEqual((await readdir(path.join(dir, 'staged'), { recursive: true })).sort(), ['bin', 'bin/api', 'conf']);

    const { engine: broken } = await engineIn(dir, config.replace('build/api', 'build/missing'));
    const [failed] = await broken.run(['api']);
    assert.equal(failed!.status, 'failed');
    assert.equal(failed!.error, 'staging: artifact not found: build/missing (the compile step should produce it)');
  });

  it('does not copy again when a rebuilt artifact has identical bytes', async () => {
    const dir = await workspace({ 'build/api': 'same bytes', 'assets/x': '', 'build/conf': '' });
    const { engine } = await engineIn(dir, config);
    await engine.run(['api']);
    const before = await stat(path.join(dir, 'staged/bin/api'));
    await writeFile(path.join(dir, 'build/api'), 'same bytes'); // new mtime, same content
    const [second] = await engine.run(['api']);
    assert.match(second!.records.find((r) => r.stage === 'staging')!.detail!, /nothing copied/);
    assert.equal((await stat(path.join(dir, 'staged/bin/api'))).ino, before.ino);
  });

  it('a reader never sees a half-written binary: the target is replaced by rename', async () => {
    const dir = await workspace({ 'build/api': 'a'.repeat(4 << 20), 'assets/x': '', 'build/conf': '' });
    const { engine } = await engineIn(dir, config);
    await engine.run(['api']);
    const before = await stat(path.join(dir, 'staged/bin/api'));
    await writeFile(path.join(dir, 'build/api'), 'b'.repeat(4 << 20));
    await engine.run(['api']);
    const after = await stat(path.join(dir, 'staged/bin/api'));
    // A new inode means the old file was never truncated or rewritten in place.
    assert.notEqual(after.ino, before.ino);
    assert.equal((await readFile(path.join(dir, 'staged/bin/api'), 'utf8')).slice(0, 1), 'b');
  });

  it('after the stage step the folder holds exactly stage.files: strays from earlier configs, lost manifests and cut copies are removed', async () => {
    const dir = await workspace({ 'build/api': 'x', 'assets/a.css': '', 'build/conf': '' });
    // Left by an earlier config whose manifest is gone, a cut-short copy, a hand-made file.
    await put(dir, 'staged/old/config.yaml', 'stale');
    await put(dir, 'staged/.tl-stage-0123456789ab', 'half a binary');
    await put(dir, 'staged/bin/notes.txt', 'hand-made');
    const { engine } = await engineIn(dir, config);
    const [run] = await engine.run(['api']);
    assert.equal(run!.status, 'ok', run!.error);
    assert.deepEqual((await readdir(path.join(dir, 'staged'), { recursive: true })).sort(), ['bin', 'bin/api', 'conf', 'static', 'static/a.css']);
    // The staged set is what the image is keyed by: same files, same hash as a clean folder.
    const clean = await workspace({ 'build/api': 'x', 'assets/a.css': '', 'build/conf': '' });
    const { engine: fresh } = await engineIn(clean, config);
    const [cleanRun] = await fresh.run(['api']);
    const hashOf = (r: typeof run) => r!.records.find((x) => x.stage === 'staging')!.detail!.match(/set ([0-9a-f]+)/)![1];
    assert.equal(hashOf(run), hashOf(cleanRun));
  });

  it('never writes temp files inside the staging folder (they could enter a build context)', async () => {
    const dir = await workspace({ 'build/api': 'a'.repeat(8 << 20), 'assets/a.css': '', 'build/conf': '' });
    const { engine } = await engineIn(dir, config);
    const seen = new Set<string>();
    const { watch } = await import('node:fs');
    await put(dir, 'staged/.keep-folder', '');
    const watcher = watch(path.join(dir, 'staged'), { recursive: false }, (_e, name) => name && seen.add(String(name)));
    try {
      await engine.run(['api']);
    } finally {
      watcher.close();
    }
    assert.ok(![...seen].some((name) => name.startsWith('.tl-stage-')), `temp names seen in the staging folder: ${[...seen].join(', ')}`);
  });

  it('refuses a staging folder that holds a stage source (it would be emptied)', async () => {
    const dir = await workspace({ 'out/api': 'x' });
    await assert.rejects(engineIn(dir, `version: 1
services:
  api:
    stage: { dir: out, files: [{ from: out/api, to: api }] }
`), /stage\.files\.0\.from: "out\/api" overlaps the staging folder out/);
  });
});
