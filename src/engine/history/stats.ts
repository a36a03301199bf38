import { STAGES, type RunSummary, type StageName } from '../types.js';

// Pure (no Node APIs): the engine, the CLI and the webview bundle all compute history figures here.

export interface StageStats {
  stage: StageName;
  count: number;
  p50: number;
  p95: number;
}

export function stageStats(runs: RunSummary[]): StageStats[] {
  return STAGES.map((stage) => {
    const durations = runs.flatMap((r) => r.records.filter((rec) => rec.stage === stage && rec.status !== 'skipped').map((rec) => rec.durationMs));
    return { stage, count: durations.length, p50: percentile(durations, 50), p95: percentile(durations, 95) };
  }).filter((s) => s.count > 0);
}

/** Nearest-rank percentile; 0 for an empty list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
