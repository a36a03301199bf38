import { percentile, stageStats } from '../engine/history/stats.js';
import { STAGES, type RunSummary, type StageName } from '../engine/types.js';
import type { HistoryPoint, ServiceHistory } from './messages.js';

/** A run is "slow" when its total exceeds the median by this factor and by at least SLOW_MIN_MS. */
export const SLOW_FACTOR = 1.5;
export const SLOW_MIN_MS = 250;

/**
 * The history section of one service: per-stage p50/p95, the points of the sparkline, and for each
 * markedly slow run the stage that is most over its own median (the one responsible).
 */
export function analyseHistory(service: string, runs: RunSummary[], limit: number): ServiceHistory {
  const recent = runs.filter((r) => r.records.length > 0).slice(-limit);
  const finished = recent.filter((r) => r.status === 'ok');
  const medianMs = percentile(finished.map((r) => r.durationMs), 50);
  // A stage's typical contribution counts skipped or absent as 0 ms: a run that had to deploy
  // when the others skipped delivery is slow *because of* deploy.
  const stageMedians = new Map<StageName, number>(
    STAGES.map((stage) => [stage, percentile(finished.map((r) => durationsOf(r, stage).reduce((a, b) => a + b, 0)), 50)]),
  );

  const points: HistoryPoint[] = recent.map((run) => {
    const trigger = run.records.find((r) => r.stage === 'trigger')?.detail ?? run.trigger.reason;
    const point: HistoryPoint = { runId: run.runId, startedAt: run.startedAt, durationMs: run.durationMs, status: run.status, trigger };
    const slow = run.status === 'ok' && finished.length >= 3 && run.durationMs > medianMs * SLOW_FACTOR && run.durationMs - medianMs >= SLOW_MIN_MS;
    if (slow) {
      let worst: { stage: StageName; excessMs: number } | undefined;
      for (const record of run.records) {
        if (record.status === 'skipped') continue;
        const excessMs = record.durationMs - (stageMedians.get(record.stage) ?? 0);
        if (!worst || excessMs > worst.excessMs) worst = { stage: record.stage, excessMs };
      }
      if (worst) point.slow = { stage: worst.stage, factor: round2(run.durationMs / Math.max(1, medianMs)), excessMs: Math.round(worst.excessMs) };
    }
    return point;
  });

  const stats = stageStats(recent);

  return { service, stats, points, medianMs };
}

function durationsOf(run: RunSummary, stage: StageName): number[] {
  return run.records.filter((r) => r.stage === stage && r.status !== 'skipped').map((r) => r.durationMs);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * Sparkline geometry: x evenly spaced, y scaled to the largest value (0 at the bottom), in a
 * width × height box with `pad` units kept free at top and bottom.
 */
export function sparklinePoints(values: number[], width: number, height: number, pad = 2): { x: number; y: number }[] {
  if (values.length === 0) return [];
  const max = Math.max(...values, 1);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values.map((v, i) => ({
    x: round2(values.length > 1 ? i * step : width / 2),
    y: round2(height - pad - (Math.max(0, v) / max) * (height - 2 * pad)),
  }));
}
