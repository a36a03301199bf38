import type { RunSummary, StageName, TimingRecord } from '../../src/engine/types.js';

/** A finished run whose stages follow each other back to back, starting at `at`. */
export function run(service: string, at: number, stages: [StageName, number, TimingRecord['status']?, string?][], status: RunSummary['status'] = 'ok', extra: Partial<RunSummary> = {}): RunSummary {
  const runId = `${service}-${at}`;
  let t = at;
  const records: TimingRecord[] = stages.map(([stage, durationMs, st = 'ok', detail]) => {
    const record: TimingRecord = { service, runId, stage, startedAt: t, durationMs, status: st, ...(detail && { detail }) };
    t += st === 'skipped' ? 0 : durationMs;
    return record;
  });
  return { service, runId, status, startedAt: at, durationMs: t - at, trigger: { reason: 'save', changedFiles: [] }, records, ...extra };
}
