import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyseHistory, sparklinePoints } from '../../src/shared/history.js';
import { formatAgo, formatDuration } from '../../src/shared/format.js';
import { parseToWebview, type LiveRun, type RunView } from '../../src/shared/messages.js';
import { layoutWaterfall } from '../../src/shared/waterfall.js';
import { run } from './helpers.js';

function view(r: ReturnType<typeof run>): RunView {
  return { runId: r.runId, status: r.status, startedAt: r.startedAt, durationMs: r.durationMs, trigger: 'save', records: r.records, ...(r.failedStage && { failedStage: r.failedStage }) };
}

describe('waterfall layout', () => {
  it('places bars by start time and sizes them by duration on one timeline', () => {
    const layout = layoutWaterfall(view(run('api', 1000, [['trigger', 0], ['compile', 600], ['staging', 100], ['image', 300]])), 'service', 0);
    assert.equal(layout.totalMs, 1000);
    const bar = (stage: string) => layout.bars.find((b) => b.stage === stage)!;
    assert.deepEqual([bar('compile').offsetPct, bar('compile').widthPct], [0, 60]);
    assert.deepEqual([bar('staging').offsetPct, bar('staging').widthPct], [60, 10]);
    assert.deepEqual([bar('image').offsetPct, bar('image').widthPct], [70, 30]);
    assert.equal(bar('push').state, 'not-run');
    assert.equal(layout.bars.length, 7);
  });

  it('starts the timeline at the first change (the trigger wait is visible)', () => {
    const r = run('api', 1000, [['compile', 500]]);
    r.records.unshift({ service: 'api', runId: r.runId, stage: 'trigger', startedAt: 500, durationMs: 500, status: 'ok' });
    const layout = layoutWaterfall(view(r), 'service', 0);
    assert.equal(layout.totalMs, 1000);
    assert.deepEqual(layout.bars.slice(0, 2).map((b) => [b.offsetPct, b.widthPct]), [[0, 50], [50, 50]]);
  });

  it('shows skipped stages with their reason and no length', () => {
    const layout = layoutWaterfall(view(run('api', 0, [['compile', 100], ['image', 0, 'skipped', 'no image configured']])), 'service', 0);
    const image = layout.bars.find((b) => b.stage === 'image')!;
    assert.equal(image.state, 'skipped');
    assert.equal(image.widthPct, 0);
    assert.equal(image.detail, 'no image configured');
  });

  it('grows a running stage with the clock; later stages are pending', () => {
    const live: LiveRun = { runId: 'r', startedAt: 0, trigger: 'save', stage: 'compile', stageStartedAt: 100, records: [{ service: 'a', runId: 'r', stage: 'trigger', startedAt: 0, durationMs: 100, status: 'ok' }] };
    const at500 = layoutWaterfall(live, 'service', 500);
    const compile = at500.bars.find((b) => b.stage === 'compile')!;
    assert.equal(at500.totalMs, 500);
    assert.deepEqual([compile.state, compile.offsetPct, compile.widthPct, compile.durationMs], ['running', 20, 80, 400]);
    assert.equal(at500.bars.find((b) => b.stage === 'push')!.state, 'pending');
    const at1000 = layoutWaterfall(live, 'service', 1000);
    assert.equal(at1000.bars.find((b) => b.stage === 'compile')!.widthPct, 90);
  });

  it('marks cancelled and failed stages, and tasks have only trigger and their own task stage', () => {
    const layout = layoutWaterfall(view(run('t', 0, [['trigger', 0], ['task', 50, 'cancelled']], 'cancelled')), 'task', 0);
    assert.deepEqual(layout.bars.map((b) => `${b.stage}:${b.state}`), ['trigger:ok', 'task:cancelled']);
    assert.ok(parseToWebview({ type: 'log', service: 't', runId: 'r', stage: 'task', lines: [], dropped: 0, available: true }).ok, 'the panel protocol knows the task stage');
  });

  it('never lets a bar overflow the track, even with an empty run', () => {
    const layout = layoutWaterfall(view(run('api', 0, [])), 'service', 0);
    for (const b of layout.bars) assert.ok(b.offsetPct + b.widthPct <= 100);
    assert.equal(layout.totalMs, 1);
  });
});

describe('history analysis', () => {
  const normal = (at: number, image = 200) => run('api', at, [['trigger', 0], ['compile', 500], ['image', image], ['push', 100]]);

  it('computes per-stage p50/p95 and flags a slow run with the stage responsible', () => {
    const runs = [normal(0), normal(1000), normal(2000), normal(3000, 2200), normal(4000)];
    const h = analyseHistory('api', runs, 50);
    assert.equal(h.medianMs, 800);
    const slow = h.points.filter((p) => p.slow);
    assert.equal(slow.length, 1);
    assert.deepEqual(slow[0]!.slow, { stage: 'image', factor: 3.5, excessMs: 2000 });
    const image = h.stats.find((s) => s.stage === 'image')!;
    assert.deepEqual([image.p50, image.p95, image.count], [200, 2200, 5]);
    assert.ok(!h.stats.some((s) => s.stage === 'deploy'), 'stages that never ran have no stats');
  });

  it('blames a normally skipped stage when a run had to do it', () => {
    const skippedDelivery = (at: number) => run('api', at, [['compile', 300], ['deploy', 0, 'skipped', 'unchanged'], ['ready', 0, 'skipped', 'unchanged']]);
    const runs = [run('api', 0, [['compile', 310], ['deploy', 50], ['ready', 900]]), skippedDelivery(1000), skippedDelivery(2000), skippedDelivery(3000)];
    const slow = analyseHistory('api', runs, 50).points[0]!.slow;
    assert.deepEqual(slow, { stage: 'ready', factor: 4.2, excessMs: 900 });
  });

  it('flags only successful runs (a cancelled or failed run is not "slow")', () => {
    const runs = [normal(0), normal(1000), normal(2000), { ...normal(3000, 2200), status: 'cancelled' as const }];
    assert.equal(analyseHistory('api', runs, 50).points.filter((p) => p.slow).length, 0);
  });

  it('does not flag small absolute differences or anything with too few runs', () => {
    const quick = (at: number, ms: number) => run('api', at, [['compile', ms]]);
    assert.equal(analyseHistory('api', [quick(0, 10), quick(1, 10), quick(2, 10), quick(3, 100)], 50).points.filter((p) => p.slow).length, 0);
    assert.equal(analyseHistory('api', [normal(0), normal(1, 5000)], 50).points.filter((p) => p.slow).length, 0);
  });

  it('keeps only the last `limit` runs', () => {
    const runs = Array.from({ length: 80 }, (_, i) => normal(i * 1000));
    assert.equal(analyseHistory('api', runs, 50).points.length, 50);
    assert.equal(analyseHistory('api', runs, 50).points[0]!.startedAt, 30_000);
  });

  it('scales sparkline points into the box', () => {
    assert.deepEqual(sparklinePoints([0, 50, 100], 100, 20, 2), [{ x: 0, y: 18 }, { x: 50, y: 10 }, { x: 100, y: 2 }]);
    assert.deepEqual(sparklinePoints([5], 100, 20, 2), [{ x: 50, y: 2 }]);
    assert.deepEqual(sparklinePoints([], 100, 20), []);
  });

  it('formats durations and ages for people', () => {
    assert.deepEqual([formatDuration(12.4), formatDuration(1840), formatDuration(12_345), formatDuration(65_000)], ['12 ms', '1.84 s', '12.3 s', '1m 05s']);
    assert.deepEqual([formatAgo(0, 2_000), formatAgo(0, 30_000), formatAgo(0, 3 * 60_000), formatAgo(0, 5 * 3_600_000)], ['just now', '30 s ago', '3 min ago', '5 h ago']);
  });
});
