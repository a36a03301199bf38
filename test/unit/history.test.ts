import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { History, percentile } from '../../src/engine/history/history.js';
import { bootId, processStartTicks } from '../../src/engine/process-identity.js';
import type { RunSummary } from '../../src/engine/types.js';
import { historyRun, TORN } from '../helpers/history-writer.js';
import { seeded } from '../helpers/seeded.js';
import { engineIn, workspace } from '../helpers/workspace.js';

const WRITER = path.resolve('test/helpers/history-writer.ts');
const TSX = import.meta.resolve('tsx');

function writer(args: string[]) {
  const child = spawn(process.execPath, ['--import', TSX, WRITER, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
}

function run(service: string, compileMs: number, i: number): RunSummary {
  return {
    service,
    runId: `r${i}`,
    status: 'ok',
    startedAt: i,
    durationMs: compileMs + 10,
    trigger: { reason: 'manual', changedFiles: [] },
    records: [{ service, runId: `r${i}`, stage: 'compile', startedAt: i, durationMs: compileMs, status: 'ok' }],
  };
}

describe('history', () => {
  it('survives a corrupt line with a warning naming file and line', async () => {
    const dir = await workspace();
    const warnings: string[] = [];
    const history = new History(dir, 100, (w) => warnings.push(w));
    await history.append(run('api', 100, 1));
    await appendFile(history.file, '{"service": "api", "recor\nnot json at all\n');
    await appendFile(history.file, `${JSON.stringify(run('api', 200, 2))}\n`);
    const fresh = new History(dir, 100, (w) => warnings.push(w));
    const runs = await fresh.recent('api');
    assert.deepEqual(runs.map((r) => r.runId), ['r1', 'r2']);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /history\.jsonl:2: skipped a corrupt history line/);
    await fresh.append(run('api', 300, 3));
    assert.equal((await new History(dir, 100).recent('api')).length, 3);
  });

  it("a run recorded when the staging step was called 'stage' is read as 'staging' (stats and panel join old and new runs)", async () => {
    const dir = await workspace();
    const history = new History(dir, 100);
    await history.append(run('api', 100, 1));
    const old = { ...run('api', 100, 2), status: 'failed', failedStage: 'stage', error: 'stage: api is missing' };
    old.records.push({ ...old.records[0]!, stage: 'stage' as unknown as 'staging', durationMs: 40, status: 'failed' });
    await appendFile(history.file, `${JSON.stringify(old)}\n`);
    const fresh = new History(dir, 100);
    const read = (await fresh.recent('api')).at(-1)!;
    assert.deepEqual(read.records.map((r) => r.stage), ['compile', 'staging']);
    assert.equal(read.failedStage, 'staging');
    assert.equal(read.error, 'staging: api is missing');
    assert.equal((await fresh.stats('api')).find((s) => s.stage === 'staging')?.count, 1);
  });

  it('stays bounded and computes per-stage p50/p95', async () => {
    const dir = await workspace();
    const history = new History(dir, 10);
    for (let i = 1; i <= 30; i++) await history.append(run('api', i * 10, i));
    const lines = (await readFile(history.file, 'utf8')).trim().split('\n');
    assert.ok(lines.length <= 12, `${lines.length} lines kept`);
    const reread = await new History(dir, 10).recent('api', 50);
    assert.equal(reread.length, 10);
    assert.equal(reread.at(-1)!.runId, 'r30');
    const [compile] = await new History(dir, 10).stats('api');
    assert.deepEqual(compile, { stage: 'compile', count: 10, p50: 250, p95: 300 });
  });

  it('a torn last line (a crash mid-write) costs only itself: the next record is on its own line', async () => {
    const dir = await workspace();
    await new History(dir, 100).append(run('api', 100, 1));
    const history = new History(dir, 100);
    await appendFile(history.file, '{"service":"api","runId":"half');
    await history.append(run('api', 200, 2));
    const warnings: string[] = [];
    const runs = await new History(dir, 100, (w) => warnings.push(w)).recent('api');
    assert.deepEqual(runs.map((r) => r.runId), ['r1', 'r2']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /history\.jsonl:2: skipped a corrupt history line/);
  });

  it("a rewrite keeps the lines another writer appended since this one loaded", async () => {
    const dir = await workspace();
    const a = new History(dir, 10);
    const b = new History(dir, 10);
    for (let i = 1; i <= 11; i++) await a.append(run('a', 1, i));
    await b.append(run('b', 1, 1)); // b loads the file now: 11 lines, adds the 12th
    await a.append(run('a', 1, 12));
    await a.append(run('a', 1, 13)); // a has written 13 > 10 × 1.2: rewrites
    const ids = (await new History(dir, 10).recent()).map((r) => `${r.service}${r.runId}`);
    assert.equal(ids.length, 10);
    assert.ok(ids.includes('br1'), `b's line survived a's rewrite: ${ids.join(' ')}`);
    assert.deepEqual((await a.recent('b')).map((r) => r.runId), ['r1'], "a's memory follows the file after its rewrite");
  });

  it('a lock left by a process that ended (or a reused pid) is removed; a live holder is waited for, then written past', async () => {
    const dir = await workspace();
    await mkdir(path.join(dir, '.tightloop'));
    const lock = path.join(dir, '.tightloop', 'history.lock');
    const ended = spawnSync('sh', ['-c', 'echo $$']);
    const dead = { pid: Number(ended.stdout.toString()), startTicks: 1, bootId: bootId() };
    const reused = { pid: process.pid, startTicks: processStartTicks(process.pid)! + 1, bootId: bootId() };
    for (const owner of [dead, reused, { ...reused, startTicks: reused.startTicks - 1, bootId: 'another-boot' }]) {
      await writeFile(lock, JSON.stringify(owner));
      const warnings: string[] = [];
      await new History(dir, 100, (w) => warnings.push(w)).append(run('api', 1, 1));
      assert.equal(existsSync(lock), false);
      assert.match(warnings.join('\n'), /history\.lock: removed a lock left by a process that ended/);
    }
    const live = { pid: process.pid, startTicks: processStartTicks(process.pid), bootId: bootId() };
    await writeFile(lock, JSON.stringify(live));
    const warnings: string[] = [];
    await new History(dir, 100, (w) => warnings.push(w), undefined, 300).append(run('api', 1, 2));
    assert.match(warnings.join('\n'), /history\.lock is held by another process for over 0\.3 s: appended without it/);
    assert.equal(existsSync(lock), true, "a live owner's lock is never removed");
    assert.equal((await new History(dir, 100).recent()).length, 4);
  });

  // Real processes on one workspace (a CLI `watch` and the extension): seeded appends with
  // rewrites every few runs, and writers SIGKILLed holding the lock mid-line.
  for (const { seed, limit } of [
    { seed: 1, limit: 10 }, // rewrites all the time: every writer's newest lines must survive them
    { seed: 2, limit: 1000 }, // no rewrite: every line is counted
  ]) {
    it(`processes appending and rewriting at once lose no line (seed ${seed}, limit ${limit})`, async () => {
      const dir = await workspace();
      await mkdir(path.join(dir, '.tightloop'));
      const random = seeded(seed);
      const names = ['w1', 'w2', 'w3', 'w4'];
      const count = 40;
      const appenders = names.map((name) => writer(['append', dir, name, String(count), String(limit), String(Math.floor(random() * 1e9))]));
      const tearers = [0, 1].map(() => writer(['tear', dir, String(5 + Math.floor(random() * 25))]));
      const warnings: string[] = [];
      for (const result of await Promise.all(appenders)) {
        assert.equal(result.code, 0, result.stderr);
        warnings.push(result.stderr);
      }
      for (const result of await Promise.all(tearers)) {
        assert.equal(result.signal, 'SIGKILL', result.stderr);
        warnings.push(result.stderr);
      }
      await new History(dir, limit, (w) => warnings.push(w)).append(historyRun('last', 0)); // a stale lock is no obstacle
      assert.equal(existsSync(path.join(dir, '.tightloop', 'history.lock')), false);

      const lines = (await readFile(path.join(dir, '.tightloop', 'history.jsonl'), 'utf8')).split('\n').filter((l) => l !== '');
      const records: RunSummary[] = [];
      for (const line of lines) {
        if (line === TORN) continue; // a torn line is only itself
        assert.doesNotThrow(() => records.push(JSON.parse(line) as RunSummary), `a whole record on its own line, not ${line}`);
      }
      assert.ok(lines.length - records.length <= 2);
      assert.equal(records.at(-1)?.runId, 'last-0');
      for (const name of names) {
        const mine = records.filter((r) => r.service === name).map((r) => Number(r.runId.split('-')[1]));
        const newest = Array.from({ length: mine.length }, (_, i) => count - mine.length + i);
        assert.deepEqual(mine, newest, `${name}: its newest lines, none missing (seed ${seed})`);
      }
      if (limit >= 4 * count + 1) assert.equal(records.length, 4 * count + 1, 'every line counted');
      else assert.ok(records.length >= limit, `${records.length} lines kept of limit ${limit}`);
      assert.equal(warnings.join('\n').match(/removed a lock left by a process that ended/g)?.length, 2, "each killed holder's lock removed once");
    });
  }

  it('nearest-rank percentiles', () => {
    assert.equal(percentile([], 50), 0);
    assert.equal(percentile([5], 95), 5);
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50), 5);
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), 10);
  });

  it('the engine appends every run to .tightloop/history.jsonl', async () => {
    const dir = await workspace();
    const { engine } = await engineIn(dir, 'version: 1\nservices:\n  api: { compile: { command: "true" } }\n');
    await engine.run(['api']);
    await engine.run(['api']);
    const lines = (await readFile(path.join(dir, '.tightloop/history.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(lines.length, 2);
    const stats = await engine.stageStats('api');
    assert.deepEqual(stats.map((s) => s.stage), ['trigger', 'compile']);
  });
});
