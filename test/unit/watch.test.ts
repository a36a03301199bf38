import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ServiceFileMap, SourceWatcher } from '../../src/engine/watch/file-watcher.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { configIn, engineIn, put, sleep, until, workspace } from '../helpers/workspace.js';

const CONFIG = `version: 1
services:
  api:
    watch: { paths: [src, Cargo.toml], ignore: ["target/**", "*.swp"] }
    compile: { command: "true" }
    stage: { dir: src/staged, files: [{ from: Cargo.toml, to: x }] }
  docs:
    trigger: manual
    watch: { paths: [docs] }
    compile: { command: "true" }
`;
const runStarts = (events: EngineEvent[]) => events.filter((e) => e.type === 'run-started');

describe('file → service mapping', () => {
  it('maps by watch path, honours ignores, and never watches staging or state folders', async () => {
    const dir = await workspace({ 'src/main.rs': '', 'Cargo.toml': '', 'docs/a.md': '' });
    const map = new ServiceFileMap(await configIn(dir, CONFIG));
    const at = (p: string) => path.join(dir, p);
    assert.deepEqual(map.servicesFor(at('src/main.rs')), ['api']);
    assert.deepEqual(map.servicesFor(at('Cargo.toml')), ['api']);
    assert.deepEqual(map.servicesFor(at('docs/a.md')), ['docs']);
    assert.deepEqual(map.servicesFor(at('src/.main.rs.swp')), []);
    assert.deepEqual(map.servicesFor(at('src/staged/x')), [], 'the staging folder would retrigger forever');
    assert.deepEqual(map.servicesFor(at('.tightloop/history.jsonl')), []);
    assert.deepEqual(map.servicesFor(at('README.md')), []);
    assert.equal(map.ignoredByAll(at('target')), false, 'target is not under a watch path, so nobody ignores or watches it');
  });
});

describe('watcher (real chokidar, real files)', () => {
  it('never enters an ignored folder', async () => {
    const dir = await workspace({ 'src/main.rs': '' });
    for (let i = 0; i < 50; i++) await put(dir, `src/target/debug/deep${i}/f.o`, '');
    const config = await configIn(dir, `version: 1
services:
  api:
    watch: { paths: [src], ignore: ["src/target/**"] }
    compile: { command: "true" }
`);
    const watcher = new SourceWatcher(new ServiceFileMap(config), 30, () => {}, () => {});
    after(() => watcher.stop());
    await watcher.start();
    const folders = watcher.watchedFolders();
    assert.ok(folders.includes(path.join(dir, 'src')));
    assert.ok(!folders.some((f) => f.includes('target')), `entered: ${folders.join(', ')}`);
  });

  it('turns a burst (Save All, git checkout) into one run', async () => {
    const dir = await workspace({ 'src/a': '', 'src/b': '', 'Cargo.toml': '', 'docs/x': '' });
    const { engine, events } = await engineIn(dir, CONFIG);
    await engine.startWatching();
    // Synchronous writes, like an editor's Save All: the burst takes a few milliseconds.
    for (let i = 0; i < 20; i++) writeFileSync(path.join(dir, i % 2 ? 'src/a' : 'src/b'), `x${i}`);
    await until(() => runStarts(events).length > 0, 5000, 'a run');
    await sleep(400); // past chokidar's trailing change events
    await engine.whenIdle();
    assert.equal(runStarts(events).length, 1, JSON.stringify(runStarts(events)));
    const started = runStarts(events)[0] as Extract<EngineEvent, { type: 'run-started' }>;
    assert.deepEqual(started.trigger.changedFiles.sort(), [path.join(dir, 'src/a'), path.join(dir, 'src/b')]);
  });

  it('triggers a run on a watched change and not on an ignored one', async () => {
    const dir = await workspace({ 'src/main.rs': '', 'Cargo.toml': '', 'docs/a.md': '' });
    await mkdir(path.join(dir, 'target'), { recursive: true });
    const { engine, events } = await engineIn(dir, CONFIG);
    await engine.startWatching();
    await writeFile(path.join(dir, 'src/.main.rs.swp'), 'swap');
    await writeFile(path.join(dir, 'target/out.o'), 'obj');
    await sleep(400);
    assert.equal(runStarts(events).length, 0, 'ignored files must not trigger');
    await writeFile(path.join(dir, 'src/main.rs'), 'fn main() {}');
    await until(() => runStarts(events).length === 1, 5000, 'a run');
    const started = runStarts(events)[0] as Extract<EngineEvent, { type: 'run-started' }>;
    assert.equal(started.trigger.reason, 'watch');
    assert.deepEqual(started.trigger.changedFiles, [path.join(dir, 'src/main.rs')]);
    await engine.whenIdle();
  });

  it('an editor save triggers at once and the watcher echo of the same bytes does not trigger again', async () => {
    const dir = await workspace({ 'src/main.rs': '', 'Cargo.toml': '', 'docs/x': '' });
    const { engine, events } = await engineIn(dir, CONFIG);
    await engine.startWatching();
    const file = path.join(dir, 'src/main.rs');
    await writeFile(file, 'saved');
    engine.notifySaved([file]);
    await until(() => runStarts(events).length === 1, 5000, 'a run');
    await sleep(400);
    await engine.whenIdle();
    assert.equal(runStarts(events).length, 1);
    assert.equal((runStarts(events)[0] as Extract<EngineEvent, { type: 'run-started' }>).trigger.reason, 'save');
    // A later real change is still seen by the watcher.
    await writeFile(file, 'changed outside the editor');
    await until(() => runStarts(events).length === 2, 5000, 'a second run');
    await engine.whenIdle();
  });

  it('an editor save that arrives after the watcher already triggered for the same bytes is dropped', async () => {
    const dir = await workspace({ 'src/main.rs': '', 'Cargo.toml': '', 'docs/x': '' });
    const { engine, events } = await engineIn(dir, CONFIG);
    await engine.startWatching();
    const file = path.join(dir, 'src/main.rs');
    await writeFile(file, 'written by a remote editor');
    await until(() => runStarts(events).length === 1, 5000, 'the watcher run');
    engine.notifySaved([file]); // the editor's save event, late
    await sleep(300);
    await engine.whenIdle();
    assert.equal(runStarts(events).length, 1);
    assert.equal(events.filter((e) => e.type === 'run-finished' && e.summary.status !== 'ok').length, 0, 'the watcher run was not superseded');
  });

  it('200 writes in 2 s through the watcher alone end in at most 2 runs, the last staging the last content', async () => {
    const dir = await workspace({ 'src/input.txt': 'v0' });
    const { engine, events } = await engineIn(dir, `version: 1
services:
  api:
    watch: { paths: [src] }
    compile: { command: "sleep 0.1 && mkdir -p out && cp src/input.txt out/artifact" }
    stage: { dir: staged, files: [{ from: out/artifact, to: artifact }] }
`);
    await engine.startWatching();
    for (let i = 1; i <= 200; i++) {
      writeFileSync(path.join(dir, 'src/input.txt'), `v${i}`);
      await sleep(10);
    }
    await sleep(500); // past the quiet window, the settle time and chokidar's trailing events
    await engine.whenIdle();
    const runs = events.flatMap((e) => (e.type === 'run-finished' ? [e.summary] : []));
    assert.ok(runs.length >= 1 && runs.length <= 2, `runs: ${runs.map((r) => r.status).join(', ')}`);
    assert.equal(runs.at(-1)!.status, 'ok');
    assert.equal(await readFile(path.join(dir, 'staged/artifact'), 'utf8'), 'v200');
  });

  it('manual services only report pending changes', async () => {
    const dir = await workspace({ 'src/main.rs': '', 'Cargo.toml': '', 'docs/a.md': '' });
    const { engine, events } = await engineIn(dir, CONFIG);
    await engine.startWatching();
    await writeFile(path.join(dir, 'docs/a.md'), 'new');
    await until(() => events.some((e) => e.type === 'changes-pending'), 5000, 'changes-pending');
    await sleep(200);
    assert.equal(runStarts(events).length, 0);
    assert.deepEqual(engine.status().find((s) => s.name === 'docs')?.pendingChanges, [path.join(dir, 'docs/a.md')]);
    await engine.run(['docs']);
    assert.deepEqual(engine.status().find((s) => s.name === 'docs')?.pendingChanges, []);
  });
});
