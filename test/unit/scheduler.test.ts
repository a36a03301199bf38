import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { StageError, type Stage, type StageSet } from '../../src/engine/stages/stage.js';
import type { EngineEvent, RunSummary } from '../../src/engine/types.js';
import { engineIn, put, sleep, until, workspace } from '../helpers/workspace.js';

const runsOf = (events: EngineEvent[], service: string) =>
  events.flatMap((e) => (e.type === 'run-finished' && e.summary.service === service ? [e.summary] : []));

/** A compile that takes a while and snapshots input.txt at its END, like a real build. */
function slowCopyService(onChange: 'queue' | 'restart', seconds = 0.6) {
  return `version: 1
services:
  api:
    onChange: ${onChange}
    watch: { paths: [input.txt] }
    compile: { command: "sleep ${seconds} && mkdir -p out && cp input.txt out/artifact" }
    stage: { dir: staged, files: [{ from: out/artifact, to: artifact }] }
`;
}

describe('scheduler', () => {
  it('queue: a burst of 100 changes during a compile makes exactly one follow-up run that sees the last content', async () => {
    const dir = await workspace({ 'input.txt': 'v0' });
    const { engine, events } = await engineIn(dir, slowCopyService('queue'));
    const first = engine.run(['api']);
    await until(() => events.some((e) => e.type === 'stage-started' && e.stage === 'compile'), 5000, 'compile start');
    const input = path.join(dir, 'input.txt');
    for (let i = 1; i <= 100; i++) {
      await writeFile(input, `v${i}`);
      engine.notifySaved([input]);
      if (i % 10 === 0) await sleep(5);
    }
    await first;
    await engine.whenIdle();
    const runs = runsOf(events, 'api');
    assert.equal(runs.length, 2, `runs: ${runs.map((r) => r.status).join(', ')}`);
    assert.deepEqual(runs.map((r) => r.status), ['ok', 'ok']);
    assert.equal(runs[1]!.trigger.reason, 'save');
    assert.equal(runs[1]!.trigger.changedFiles.length, 1);
    assert.equal(await readFile(path.join(dir, 'staged/artifact'), 'utf8'), 'v100');
  });

  it('restart: changes during compile cancel it; the last run is ok and sees the last content; runs never overlap', async () => {
    const dir = await workspace({ 'input.txt': 'v0' });
    const { engine, events } = await engineIn(dir, slowCopyService('restart', 1));
    void engine.run(['api']);
    await until(() => events.some((e) => e.type === 'stage-started' && e.stage === 'compile'), 5000, 'compile start');
    const input = path.join(dir, 'input.txt');
    for (let i = 1; i <= 100; i++) {
      await writeFile(input, `v${i}`);
      engine.notifySaved([input]);
    }
    await engine.whenIdle();
    const runs = runsOf(events, 'api');
    const last = runs.at(-1)!;
    assert.equal(last.status, 'ok');
    assert.ok(runs.length >= 2, 'the first compile must have been restarted');
    for (const earlier of runs.slice(0, -1)) {
      assert.equal(earlier.status, 'cancelled');
      assert.match(earlier.error!, /cancelled during compile: superseded by a newer change/);
    }
    assert.equal(await readFile(path.join(dir, 'staged/artifact'), 'utf8'), 'v100');
    // Never two runs of one service at once: each run starts after the previous one finished.
    const timeline = events.filter((e) => e.type === 'run-started' || e.type === 'run-finished').map((e) => e.type);
    assert.deepEqual(timeline, runs.flatMap(() => ['run-started', 'run-finished']));
  });

  for (const mode of ['queue', 'restart'] as const) {
    it(`${mode}: a 1-second stream of saves (one every 10 ms) ends in at most 2 runs, the last with the last content`, async () => {
      const dir = await workspace({ 'input.txt': 'v0' });
      const { engine, events } = await engineIn(dir, slowCopyService(mode, 0.2));
      const input = path.join(dir, 'input.txt');
      for (let i = 1; i <= 100; i++) {
        writeFileSync(input, `v${i}`);
        engine.notifySaved([input]);
        await sleep(10);
      }
      await until(() => runsOf(events, 'api').length > 0 && !engine.status()[0]!.running && !engine.status()[0]!.queued, 15_000, 'the last run');
      await engine.whenIdle();
      const runs = runsOf(events, 'api');
      assert.ok(runs.length <= 2, `runs: ${runs.map((r) => r.status).join(', ')}`);
      assert.equal(runs.at(-1)!.status, 'ok');
      assert.equal(await readFile(path.join(dir, 'staged/artifact'), 'utf8'), 'v100');
    });
  }

  it('cancel stops a running compile and reports the run as cancelled', async () => {
    const dir = await workspace({ 'input.txt': 'v0' });
    const { engine, events } = await engineIn(dir, slowCopyService('queue', 30));
    const running = engine.run(['api']);
    await until(() => events.some((e) => e.type === 'stage-started' && e.stage === 'compile'), 5000, 'compile start');
    engine.cancel('api');
    const [summary] = await running;
    assert.equal(summary!.status, 'cancelled');
    assert.equal(summary!.failedStage, 'compile');
    assert.equal(summary!.records.find((r) => r.stage === 'compile')?.status, 'cancelled');
  });

  it('runs dependencies first, in order', async () => {
    const dir = await workspace();
    const { engine } = await engineIn(dir, `version: 1
services:
  svc: { dependsOn: [b], compile: { command: "echo svc >> order" } }
tasks:
  a: { command: "echo a >> order" }
  b: { command: "echo b >> order", dependsOn: [a] }
`);
    const [summary] = await engine.run(['svc']);
    assert.equal(summary!.status, 'ok');
    assert.equal(await readFile(path.join(dir, 'order'), 'utf8'), 'a\nb\nsvc\n');
  });

  it('never runs a dependent after its dependency failed', async () => {
    const dir = await workspace();
    const { engine, events } = await engineIn(dir, `version: 1
services:
  svc: { dependsOn: [b], compile: { command: "echo svc >> order" } }
tasks:
  a: { command: "echo a >> order; exit 1" }
  b: { command: "echo b >> order", dependsOn: [a] }
`);
    const [summary] = await engine.run(['svc']);
    assert.equal(summary!.status, 'failed');
    assert.equal(summary!.error, 'not run: dependency "b" failed');
    assert.equal(await readFile(path.join(dir, 'order'), 'utf8'), 'a\n');
    assert.equal(runsOf(events, 'b')[0]!.error, 'not run: dependency "a" failed');
    assert.match(runsOf(events, 'a')[0]!.error!, /^task: ".*" exited with code 1$/);
  });

  for (const parallelism of [1, 2]) {
    it(`runs independent services in parallel up to the limit (${parallelism})`, async () => {
      const dir = await workspace();
      const { engine } = await engineIn(dir, `version: 1
settings: { parallelism: ${parallelism} }
services:
  idle: { compile: { command: "true" } }
tasks:
  x: { command: "date +%s%N > x.start; sleep 0.4; date +%s%N > x.end" }
  y: { command: "date +%s%N > y.start; sleep 0.4; date +%s%N > y.end" }
`);
      await engine.run(['x', 'y']);
      const t = async (f: string) => BigInt((await readFile(path.join(dir, f), 'utf8')).trim());
      const overlap = (await t('x.start')) < (await t('y.end')) && (await t('y.start')) < (await t('x.end'));
      assert.equal(overlap, parallelism === 2);
    });
  }
});

/** A stand-in image stage: real enough to count builds (the Docker suite tests the real one). */
function countingImageStage(): { stages: StageSet; builds: string[] } {
  const builds: string[] = [];
  const image: Stage = {
    name: 'image',
    async run(ctx) {
      builds.push(ctx.outputs.stagingHash!);
      return { outputs: { imageRef: `r/api:tl-${ctx.outputs.stagingHash!.slice(0, 12)}` } };
    },
  };
  return { stages: { image }, builds };
}

describe('skips', () => {
  const config = `version: 1
services:
  api:
    compile: { command: "mkdir -p out && cp input.txt out/artifact && chmod 755 out/artifact" }
    stage: { dir: staged, files: [{ from: out/artifact, to: bin/api }] }
    image: { repository: r/api }
`;

  it('skips every later stage when the staged bytes are identical to the last success', async () => {
    const dir = await workspace({ 'input.txt': 'one' });
    const { stages, builds } = countingImageStage();
    const { engine } = await engineIn(dir, config, stages);
    const [first] = await engine.run(['api']);
    assert.equal(first!.records.find((r) => r.stage === 'image')?.status, 'ok');
    const [second] = await engine.run(['api']);
    const later = second!.records.filter((r) => ['image', 'push', 'deploy', 'ready'].includes(r.stage));
    assert.deepEqual(later.map((r) => r.status), ['skipped', 'skipped', 'skipped', 'skipped']);
    assert.match(later[0]!.detail!, /^unchanged: staged files identical to the last successful run/);
    assert.equal(builds.length, 1);
    await put(dir, 'input.txt', 'two');
    const [third] = await engine.run(['api']);
    assert.equal(third!.records.find((r) => r.stage === 'image')?.status, 'ok');
    assert.equal(builds.length, 2);
    assert.notEqual(builds[0], builds[1]);
  });

  it('--force rebuilds an unchanged artifact', async () => {
    const dir = await workspace({ 'input.txt': 'one' });
    const { stages, builds } = countingImageStage();
    const { engine } = await engineIn(dir, config, stages);
    await engine.run(['api']);
    await engine.run(['api'], { force: true });
    assert.equal(builds.length, 2);
  });

  it('does not treat a failed delivery as a success to compare against', async () => {
    const dir = await workspace({ 'input.txt': 'one' });
    let fail = true;
    const image: Stage = {
      name: 'image',
      async run() {
        if (fail) throw new Error('daemon down');
        return {};
      },
    };
    const { engine } = await engineIn(dir, config, { image });
    const [first] = await engine.run(['api']);
    assert.equal(first!.status, 'failed');
    assert.equal(first!.error, 'image: daemon down');
    fail = false;
    const [second] = await engine.run(['api']);
    assert.equal(second!.records.find((r) => r.stage === 'image')?.status, 'ok');
  });

  it('skips a stage whose declared inputs are unchanged', async () => {
    const dir = await workspace({ 'Cargo.lock': 'a', 'input.txt': 'x' });
    const { engine } = await engineIn(dir, `version: 1
services:
  api:
    compile: { command: "echo run >> count", inputs: [Cargo.lock] }
`);
    const statusOf = (s: RunSummary | undefined) => s!.records.find((r) => r.stage === 'compile')!;
    assert.equal(statusOf((await engine.run(['api']))[0]).status, 'ok');
    const second = statusOf((await engine.run(['api']))[0]);
    assert.equal(second.status, 'skipped');
    assert.match(second.detail!, /^inputs unchanged/);
    await put(dir, 'Cargo.lock', 'b');
    assert.equal(statusOf((await engine.run(['api']))[0]).status, 'ok');
    assert.equal(await readFile(path.join(dir, 'count'), 'utf8'), 'run\nrun\n');
  });
});

describe('an input-skipped stage carries its last outputs forward (issue 10, item 6)', () => {
  it('image.inputs unchanged while the staged bytes are new: the last image is delivered as unchanged, not "no image to deliver"', async () => {
    const dir = await workspace({ 'input.txt': 'one', 'Dockerfile.in': 'base' });
    const built: string[] = [];
    const image: Stage = {
      name: 'image',
      async run(ctx) {
        built.push(ctx.outputs.stagingHash!);
        return { outputs: { imageRef: `r/api:tl-${built.length}`, imageId: `sha256:${built.length}` } };
      },
    };
    const push: Stage = {
      name: 'push',
      async run(ctx) {
        if (!ctx.outputs.imageRef) throw new StageError('there is no image to deliver: the image stage produced none');
        return { outputs: { digest: 'sha256:d', deployRef: ctx.outputs.imageRef } };
      },
    };
    const { engine } = await engineIn(dir, `version: 1
services:
  api:
    compile: { command: "mkdir -p out && cp input.txt out/bin" }
    stage: { dir: staged, files: [{ from: out/bin, to: bin }] }
    image: { repository: r/api, inputs: [Dockerfile.in] }
`, { image, push });
    const [first] = await engine.run(['api']);
    assert.equal(first!.status, 'ok', first!.error);
    await put(dir, 'input.txt', 'two');
    const [second] = await engine.run(['api']);
    assert.equal(second!.status, 'ok', second!.error);
    assert.equal(second!.records.find((r) => r.stage === 'image')!.status, 'skipped');
    assert.equal(second!.image, 'r/api:tl-1', 'the last image, carried forward');
    assert.equal(built.length, 1);
  });
});

describe('scheduling that cannot go stale (issue 10)', () => {
  const exists = (file: string) => stat(file).then(() => true, () => false);
  const waitingOf = (events: EngineEvent[], service: string) =>
    events.flatMap((e) => (e.type === 'run-waiting' && e.service === service ? [e.reason] : []));

  it('cancel removes a run that waits for its dependency; it never starts', async () => {
    const dir = await workspace();
    const { engine, events } = await engineIn(dir, `version: 1
services:
  svc: { dependsOn: [gen], compile: { command: "touch svc-ran" } }
tasks:
  gen: { command: "touch gen-started; sleep 0.6" }
`);
    const running = engine.run(['svc']);
    await until(() => exists(path.join(dir, 'gen-started')), 5000, 'the dependency to start');
    assert.deepEqual(engine.status().find((s) => s.name === 'svc')?.waiting, { kind: 'dependency', on: ['gen'], message: 'waiting for dependency "gen"' });
    // A queued run is not a running one (status().running used to be true for both).
    assert.deepEqual(engine.status().map(({ name, running, queued }) => ({ name, running, queued })), [
      { name: 'svc', running: false, queued: true },
      { name: 'gen', running: true, queued: false },
    ]);
    engine.cancel('svc');
    const [summary] = await running;
    assert.equal(summary!.status, 'cancelled');
    await engine.whenIdle();
    assert.equal(await exists(path.join(dir, 'svc-ran')), false, 'the cancelled run started anyway');
    assert.equal(runsOf(events, 'gen')[0]!.status, 'ok', 'the dependency itself was not asked to stop');
  });

  it('cancel removes a run that waits for a parallelism slot', async () => {
    const dir = await workspace();
    const { engine, events } = await engineIn(dir, `version: 1
settings: { parallelism: 1 }
services:
  idle: { compile: { command: "true" } }
tasks:
  x: { command: "touch x-started; sleep 0.6" }
  y: { command: "touch y-ran" }
`);
    const x = engine.run(['x']);
    await until(() => exists(path.join(dir, 'x-started')), 5000, 'x to start');
    const y = engine.run(['y']);
    await until(() => waitingOf(events, 'y').some((r) => r.kind === 'parallelism'), 5000, 'y to wait for a slot');
    engine.cancel('y');
    assert.equal((await y)[0]!.status, 'cancelled');
    assert.equal((await x)[0]!.status, 'ok');
    await engine.whenIdle();
    assert.equal(await exists(path.join(dir, 'y-ran')), false);
  });

  it('engine dispose never starts a queued run', async () => {
    const dir = await workspace();
    const { engine } = await engineIn(dir, `version: 1
settings: { parallelism: 1 }
services:
  idle: { compile: { command: "true" } }
tasks:
  x: { command: "touch x-started; sleep 5" }
  y: { command: "touch y-ran" }
`);
    const x = engine.run(['x']);
    await until(() => exists(path.join(dir, 'x-started')), 5000, 'x to start');
    const y = engine.run(['y']);
    await engine.dispose();
    assert.equal((await x)[0]!.status, 'cancelled');
    assert.equal((await y)[0]!.status, 'cancelled');
    assert.equal(await exists(path.join(dir, 'y-ran')), false, 'dispose started the queued run');
    assert.equal((await engine.run(['y']))[0]!.status, 'cancelled', 'nothing starts after dispose');
    assert.equal(await exists(path.join(dir, 'y-ran')), false);
  });

  it('run <service> runs independent dependency branches in parallel', async () => {
    const dir = await workspace();
    const { engine } = await engineIn(dir, `version: 1
settings: { parallelism: 2 }
services:
  ui: { dependsOn: [codegen, bundle], compile: { command: "true" } }
tasks:
  codegen: { command: "date +%s%N > a.start; sleep 0.4; date +%s%N > a.end" }
  bundle: { command: "date +%s%N > b.start; sleep 0.4; date +%s%N > b.end" }
`);
    const [summary] = await engine.run(['ui']);
    assert.equal(summary!.status, 'ok');
    const t = async (f: string) => BigInt((await readFile(path.join(dir, f), 'utf8')).trim());
    assert.ok((await t('a.start')) < (await t('b.end')) && (await t('b.start')) < (await t('a.end')), 'codegen and bundle overlapped');
  });

  const TASKS = (trigger?: string) => `version: 1
services:
  api:
    watch: { paths: [src] }
    compile: { command: "true" }
tasks:
  load-test: { command: "echo ran >> load-ran", dependsOn: [api]${trigger ? `, trigger: ${trigger}` : ''} }
`;

  it('a task is manual by default: a rebuild does not run it, and it says why', async () => {
    const dir = await workspace({ 'src/main.rs': '' });
    const { engine, events } = await engineIn(dir, TASKS());
    await engine.startWatching();
    await writeFile(path.join(dir, 'src/main.rs'), 'v1');
    await until(() => runsOf(events, 'api').length === 1, 5000, 'the api run');
    await until(() => waitingOf(events, 'load-test').length > 0, 5000, 'the manual hold');
    await engine.whenIdle();
    assert.equal(runsOf(events, 'load-test').length, 0);
    assert.equal(engine.status().find((s) => s.name === 'load-test')?.waiting?.kind, 'manual');
    // Asked for, it runs.
    assert.equal((await engine.run(['load-test']))[0]!.status, 'ok');
    assert.equal(engine.status().find((s) => s.name === 'load-test')?.waiting, undefined);
  });

  it('trigger: auto tasks run after each rebuild of what they depend on', async () => {
    const dir = await workspace({ 'src/main.rs': '' });
    const { engine, events } = await engineIn(dir, TASKS('auto'));
    await engine.startWatching();
    await writeFile(path.join(dir, 'src/main.rs'), 'v1');
    await until(() => runsOf(events, 'load-test').length === 1, 5000, 'the auto task');
    await engine.whenIdle();
  });

  it('reports why a queued run waits: the current run, then changes settling', async () => {
    const dir = await workspace({ 'src/main.rs': '' });
    const { engine, events } = await engineIn(dir, `version: 1
services:
  api:
    onChange: queue
    watch: { paths: [src] }
    compile: { command: "sleep 0.4" }
`);
    const first = engine.run(['api']);
    await until(() => events.some((e) => e.type === 'stage-started' && e.stage === 'compile'), 5000, 'compile start');
    const file = path.join(dir, 'src/main.rs');
    await writeFile(file, 'v1');
    engine.notifySaved([file]);
    await until(() => waitingOf(events, 'api').length > 0, 5000, 'a hold reason');
    assert.equal(engine.status()[0]!.waiting?.kind, 'running');
    assert.deepEqual([engine.status()[0]!.running, engine.status()[0]!.queued], [true, true], 'a run and its follow-up');
    await first;
    await engine.whenIdle();
    assert.deepEqual(waitingOf(events, 'api').map((r) => r.kind), ['running', 'settle']);
    assert.equal(engine.status()[0]!.waiting, undefined);
    assert.deepEqual([engine.status()[0]!.running, engine.status()[0]!.queued], [false, false]);
  });

  it('watch a b watches only a and b', async () => {
    const dir = await workspace({ 'a/x': '', 'b/x': '', 'c/x': '' });
    const { engine, events } = await engineIn(dir, `version: 1
services:
  a: { watch: { paths: [a] }, compile: { command: "true" } }
  b: { watch: { paths: [b] }, compile: { command: "true" } }
  c: { watch: { paths: [c] }, compile: { command: "true" } }
`);
    await engine.startWatching({ only: ['a', 'b'] });
    await writeFile(path.join(dir, 'c/x'), 'v1');
    engine.notifySaved([path.join(dir, 'c/x')]);
    await writeFile(path.join(dir, 'b/x'), 'v1');
    await until(() => runsOf(events, 'b').length === 1, 5000, 'b to run');
    await sleep(300);
    await engine.whenIdle();
    assert.equal(runsOf(events, 'c').length, 0, 'c is not watched');
  });
});
