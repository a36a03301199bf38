import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ServiceFileMap, SourceWatcher } from '../../src/engine/watch/file-watcher.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { readVersion, sameVersion } from '../../src/engine/watch/file-version.js';
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

/** A watcher (not started) of `src`, whose `src/target/` is ignored; stopped after the test. */
async function watcherIgnoringTarget(dir: string): Promise<SourceWatcher> {
  const config = await configIn(dir, `version: 1
services:
  api:
    watch: { paths: [src], ignore: ["src/target/**"] }
    compile: { command: "true" }
`);
  const watcher = new SourceWatcher(new ServiceFileMap(config), 30, () => {}, () => {});
  after(() => watcher.stop());
  return watcher;
}

describe('watcher (real chokidar, real files)', () => {
  it('never enters an ignored folder', async () => {
    const dir = await workspace({ 'src/main.rs': '' });
    for (let i = 0; i < 50; i++) await put(dir, `src/target/debug/deep${i}/f.o`, '');
    const watcher = await watcherIgnoringTarget(dir);
    await watcher.start();
    const folders = watcher.watchedFolders();
    assert.ok(folders.includes(path.join(dir, 'src')));
    assert.ok(!folders.some((f) => f.includes('target')), `entered: ${folders.join(', ')}`);
  });

  it('records every watched folder while watching starts, without a walk that blocks the event loop (issue 9)', async () => {
    const dir = await workspace({ 'src/main.rs': '' });
    const expected = [path.join(dir, 'src')];
    for (let a = 0; a < 12; a++) {
      expected.push(path.join(dir, `src/m${a}`));
      for (let b = 0; b < 12; b++) {
        mkdirSync(path.join(dir, `src/m${a}/n${b}/o`), { recursive: true });
        expected.push(path.join(dir, `src/m${a}/n${b}`), path.join(dir, `src/m${a}/n${b}/o`));
      }
      mkdirSync(path.join(dir, `src/target/debug/d${a}`), { recursive: true });
    }
    const watcher = await watcherIgnoringTarget(dir);
    // What is recorded at the event loop's first turn after start() was called: a synchronous
    // walk would have recorded every folder by then (the loop stood still meanwhile).
    let atFirstTurn = -1;
    const turned = new Promise<void>((resolve) =>
      setImmediate(() => {
        atFirstTurn = watcher.recordedFolders().length;
        resolve();
      }),
    );
    const started = watcher.start();
    await turned;
    await started;
    assert.ok(atFirstTurn < expected.length, `all ${atFirstTurn} folders were recorded before the event loop turned once`);
    // Once watching: every watched folder's identity is known (the deleted-and-made-again
    // detection needs it), and nothing below the ignored target/.
    assert.deepEqual(watcher.recordedFolders().sort(), expected.sort());
  });

  it('a folder replaced while watching starts keeps being watched afterwards', async () => {
    const dir = await workspace({ 'src/gen/g.txt': 'v0' });
    for (let i = 0; i < 100; i++) mkdirSync(path.join(dir, `src/other${i}/x`), { recursive: true });
    const config = await configIn(dir, `version: 1
services:
  api:
    watch: { paths: [src] }
    compile: { command: "true" }
`);
    const batches: string[][] = [];
    const watcher = new SourceWatcher(new ServiceFileMap(config), 30, (b) => batches.push(b.files), () => {});
    after(() => watcher.stop());
    const gen = path.join(dir, 'src/gen');
    // Replaced at once (ext4 gives the new folder the old inode) on several turns of the event
    // loop while chokidar walks: before, during and after its look at src/gen.
    let replacements = 0;
    const replace = () => {
      rmSync(gen, { recursive: true });
      mkdirSync(gen);
      writeFileSync(path.join(gen, 'g.txt'), `v${++replacements}`);
    };
    let starting = true;
    const again = () => {
      if (!starting) return;
      replace();
      setImmediate(again);
    };
    setImmediate(again);
    await watcher.start();
    starting = false;
    for (const [i, name] of ['g.txt', 'h.txt'].entries()) {
      await until(() => batches.length > 0 || i > 0, 5000, 'the replacement to be reported');
      batches.length = 0;
      await writeFile(path.join(gen, name), `edit ${i}`);
      await until(() => batches.some((files) => files.some((f) => f === path.join(gen, name) || f === gen)), 5000, `an edit of gen/${name} after watching started`);
    }
    assert.ok(replacements > 0);
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
    // A writer starved by a loaded machine may pause longer than the settle time (4 × 15 ms
    // quiet window, at least 200 ms): each such pause legitimately lets one more run start.
    let pauses = 0;
    let last = performance.now();
    for (let i = 1; i <= 200; i++) {
      writeFileSync(path.join(dir, 'src/input.txt'), `v${i}`);
      const now = performance.now();
      if (now - last >= 200) pauses++;
      last = now;
      await sleep(10);
    }
    await sleep(500); // past the quiet window, the settle time and chokidar's trailing events
    await engine.whenIdle();
    const runs = events.flatMap((e) => (e.type === 'run-finished' ? [e.summary] : []));
    assert.ok(runs.length >= 1 && runs.length <= 2 + pauses, `runs: ${runs.map((r) => r.status).join(', ')} (writer paused ${pauses} time(s) past the settle time)`);
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

/** `cp -p` / `touch -r`: a copy that keeps the file's times to the nanosecond (outside any watched folder). */
function keepTimes(file: string): string {
  const ref = path.join(path.dirname(path.dirname(file)), `.times-${path.basename(file)}`);
  execFileSync('cp', ['-p', file, ref]);
  return ref;
}
function restoreTimes(file: string, ref: string): void {
  execFileSync('touch', ['-r', ref, file]);
}

describe('change detection that cannot go stale (issue 10)', () => {
  const SHARED = `version: 1
services:
  api:
    watch: { paths: [shared, api] }
    compile: { command: "true" }
  web:
    watch: { paths: [shared] }
    compile: { command: "true" }
  docs:
    trigger: manual
    watch: { paths: [shared] }
    compile: { command: "true" }
`;
  const startsOf = (events: EngineEvent[], service: string) => events.filter((e) => e.type === 'run-started' && e.service === service).length;

  it('a file watched by several services reaches every one of them, the manual one as "changes pending"', async () => {
    const dir = await workspace({ 'shared/proto.txt': 'v0', 'api/main': '' });
    const { engine, events } = await engineIn(dir, SHARED);
    await engine.startWatching();
    await writeFile(path.join(dir, 'shared/proto.txt'), 'v1');
    await until(() => startsOf(events, 'api') === 1 && startsOf(events, 'web') === 1, 5000, 'api and web to run');
    await until(() => events.some((e) => e.type === 'changes-pending' && e.service === 'docs'), 5000, 'docs: changes pending');
    await engine.whenIdle();
  });

  it('an editor save of a shared file reaches every service too', async () => {
    const dir = await workspace({ 'shared/proto.txt': 'v0', 'api/main': '' });
    const { engine, events } = await engineIn(dir, SHARED);
    const file = path.join(dir, 'shared/proto.txt');
    await writeFile(file, 'v1');
    engine.notifySaved([file]);
    await until(() => startsOf(events, 'api') === 1 && startsOf(events, 'web') === 1, 5000, 'api and web to run');
    await until(() => engine.status().find((s) => s.name === 'docs')!.pendingChanges.length === 1, 5000, 'docs: changes pending');
    await engine.whenIdle();
  });

  for (const how of ['slowly', 'at once'] as const) {
    it(`a watched folder deleted and recreated ${how} keeps being watched, and what was written meanwhile is noticed`, async () => {
      const dir = await workspace({ 'dist/app.js': 'v0' });
      const { engine, events } = await engineIn(dir, `version: 1
services:
  web:
    watch: { paths: [dist] }
    compile: { command: "true" }
`);
      await engine.startWatching();
      const dist = path.join(dir, 'dist');
      await rm(dist, { recursive: true });
      if (how === 'slowly') await until(() => startsOf(events, 'web') >= 1, 5000, 'the deletion to be seen');
      await engine.whenIdle();
      await mkdir(dist);
      await writeFile(path.join(dist, 'app.js'), 'v1');
      const before = startsOf(events, 'web');
      await until(() => startsOf(events, 'web') > before, 5000, 'the recreated folder to be noticed');
      await engine.whenIdle();
      // And later edits inside it are still seen.
      const again = startsOf(events, 'web');
      await writeFile(path.join(dist, 'app.js'), 'v2');
      await until(() => startsOf(events, 'web') > again, 5000, 'an edit inside the recreated folder');
      await engine.whenIdle();
    });
  }

  it('a folder below a watch root deleted and made again at once (same file names) keeps being watched', async () => {
    // chokidar keeps its watchers of the old folder (and of its old files): the new folder's
    // files would never be reported again. Seen by the model-based test (seed 3).
    const dir = await workspace({ 'src/gen/g.txt': 'v0', 'src/gen/sub/s.txt': 'v0', 'src/main.rs': '' });
    const { engine, events } = await engineIn(dir, `version: 1
services:
  api:
    watch: { paths: [src] }
    compile: { command: "true" }
`);
    await engine.startWatching();
    const gen = path.join(dir, 'src/gen');
    // One synchronous go, as \`rm -rf gen && generate\` does it.
    rmSync(gen, { recursive: true });
    mkdirSync(path.join(gen, 'sub'), { recursive: true });
    writeFileSync(path.join(gen, 'g.txt'), 'v1');
    writeFileSync(path.join(gen, 'sub/s.txt'), 'v1');
    await until(() => startsOf(events, 'api') >= 1, 5000, 'the recreated folder to be noticed');
    await engine.whenIdle();
    for (const [i, file] of ['g.txt', 'sub/s.txt', 'new.txt'].entries()) {
      const before = startsOf(events, 'api');
      await writeFile(path.join(gen, file), `edit ${i} of ${file}`);
      await until(() => startsOf(events, 'api') > before, 5000, `an edit of gen/${file} after the folder came back`);
      await engine.whenIdle();
    }
  });

  it('a watched file deleted and recreated later keeps being watched', async () => {
    const dir = await workspace({ 'Cargo.toml': 'v0', 'src/main.rs': '' });
    const { engine, events } = await engineIn(dir, `version: 1
services:
  api:
    watch: { paths: [Cargo.toml, src] }
    compile: { command: "true" }
`);
    await engine.startWatching();
    const file = path.join(dir, 'Cargo.toml');
    await rm(file);
    await until(() => startsOf(events, 'api') === 1, 5000, 'the deletion');
    await engine.whenIdle();
    await writeFile(file, 'v1');
    await until(() => startsOf(events, 'api') === 2, 5000, 'the file coming back');
    await engine.whenIdle();
    await writeFile(file, 'v2');
    await until(() => startsOf(events, 'api') === 3, 5000, 'an edit after it came back');
    await engine.whenIdle();
  });

  it('a same-size edit with the modification time put back (cp -p, rsync -t) is a change', async () => {
    const dir = await workspace({ 'src/config.txt': 'aaaa' });
    const { engine, events } = await engineIn(dir, `version: 1
services:
  api:
    watch: { paths: [src] }
    compile: { command: "mkdir -p out && cp src/config.txt out/config" }
    stage: { dir: staged, files: [{ from: out/config, to: config }] }
`);
    await engine.startWatching();
    const file = path.join(dir, 'src/config.txt');
    const ref = keepTimes(file);
    // Synchronous, as one tool call would be: the watcher sees only the result.
    writeFileSync(file, 'bbbb');
    restoreTimes(file, ref);
    await until(() => startsOf(events, 'api') === 1, 5000, 'a run for the first edit');
    await engine.whenIdle();
    assert.equal(await readFile(path.join(dir, 'staged/config'), 'utf8'), 'bbbb');
    // Again, with the compile output restored the same way: staging must copy it anyway.
    writeFileSync(file, 'cccc');
    restoreTimes(file, ref);
    await until(() => startsOf(events, 'api') === 2, 5000, 'a run for the second edit');
    await engine.whenIdle();
    assert.equal(await readFile(path.join(dir, 'staged/config'), 'utf8'), 'cccc');
  });

  it('staging copies a same-size artifact whose modification time was put back', async () => {
    const dir = await workspace({ 'out/bin': 'aaaa' });
    const { engine } = await engineIn(dir, `version: 1
services:
  api:
    stage: { dir: staged, files: [{ from: out/bin, to: bin }] }
`);
    assert.equal((await engine.run(['api']))[0]!.status, 'ok');
    const file = path.join(dir, 'out/bin');
    const ref = keepTimes(file);
    await writeFile(file, 'bbbb');
    restoreTimes(file, ref);
    assert.equal((await stat(file)).mtimeMs, (await stat(ref)).mtimeMs, 'mtime put back exactly');
    assert.equal((await engine.run(['api']))[0]!.status, 'ok');
    assert.equal(await readFile(path.join(dir, 'staged/bin'), 'utf8'), 'bbbb');
  });
});

describe('file versions (echo suppression)', () => {
  it('two same-size writes within one clock tick (equal size, mtime and ctime) differ by content', () => {
    const times = { ino: 7, size: 4, mtimeMs: 1000, ctimeMs: 1000 };
    assert.equal(sameVersion({ ...times, sha256: 'a'.repeat(64) }, { ...times, sha256: 'b'.repeat(64) }), false);
    assert.equal(sameVersion({ ...times, sha256: 'a'.repeat(64) }, { ...times, sha256: 'a'.repeat(64) }), true);
  });

  it('a file too big to hash, recorded moments after a write, is not vouched for by equal times', () => {
    const times = { ino: 7, size: 5e6, mtimeMs: 1000, ctimeMs: 1000 };
    assert.equal(sameVersion({ ...times, racy: true }, { ...times }), false);
    assert.equal(sameVersion({ ...times, racy: false }, { ...times }), true);
  });

  it('readVersion marks a file written just now as racy', async () => {
    const dir = await workspace({ 'a.txt': 'x' });
    const version = await readVersion(path.join(dir, 'a.txt'));
    assert.ok(version !== 'missing' && version.racy === true);
  });
});
