import assert from 'node:assert/strict';
import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { History, percentile } from '../../src/engine/history/history.js';
import type { RunSummary } from '../../src/engine/types.js';
import { engineIn, workspace } from '../helpers/workspace.js';

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
