import { writeFile } from 'node:fs/promises';
import type { Engine, EngineEvent, RunSummary, StageName } from '../../src/engine/index.js';
import type { Fixture } from './fixture.js';
import { epochNow, sleep } from './stats.js';

export interface SavedRun {
  /** Epoch ms (high resolution) of the save event. */
  savedAt: number;
  summary: RunSummary;
  /** Epoch ms at which each stage-finished event reached us. */
  finishedAt: Partial<Record<StageName, number>>;
  runFinishedAt: number;
  /** Trigger reason of each run this save started (one 'save' unless something added more). */
  runs: string[];
}

/**
 * Saves `content` the way the editor does (write, then notifySaved) and waits for the run it
 * starts to finish, then for the engine to be idle, so the next save starts from rest.
 */
export async function saveAndWait(engine: Engine, fx: Fixture, content: string): Promise<SavedRun> {
  const byRun = new Map<string, { reason: string; finishedAt: SavedRun['finishedAt']; summary?: RunSummary; at?: number }>();
  let last: string | undefined;
  const off = engine.on((event: EngineEvent) => {
    if (event.type === 'run-started' && event.service === fx.service) {
      byRun.set(event.runId, { reason: event.trigger.reason, finishedAt: {} });
      last = event.runId;
    }
    if (event.type === 'stage-finished') {
      const run = byRun.get(event.record.runId);
      if (run) run.finishedAt[event.record.stage] = epochNow();
    }
    if (event.type === 'run-finished') {
      const run = byRun.get(event.summary.runId);
      if (run) Object.assign(run, { summary: event.summary, at: epochNow() });
    }
  });
  try {
    await writeFile(fx.source, content);
    const savedAt = epochNow();
    engine.notifySaved([fx.source]);
    // The run starts after setImmediate; then wait until nothing is running or queued.
    while (!last) await sleep(1);
    await engine.whenIdle();
    await sleep(100);
    await engine.whenIdle();
    // The last run is the one whose result stands (an earlier one may have been superseded).
    const run = byRun.get(last)!;
    if (!run.summary) throw new Error('the run did not finish');
    return { savedAt, summary: run.summary, finishedAt: run.finishedAt, runFinishedAt: run.at!, runs: [...byRun.values()].map((r) => r.reason) };
  } finally {
    off();
  }
}

export function stageMs(summary: RunSummary, stage: StageName): number {
  return summary.records.find((r) => r.stage === stage)?.durationMs ?? 0;
}

/** Saves that started more than one run, with the runs' trigger reasons (the last run's result stands). */
export function extraRuns(runsPerSave: string[][]): string {
  const extra = runsPerSave.map((reasons, i) => ({ reasons, i })).filter((x) => x.reasons.length > 1);
  if (!extra.length) return '';
  const list = extra.map((x) => `#${x.i + 1}: ${x.reasons.join(' → ')}`).join(', ');
  return ` ${extra.length} of ${runsPerSave.length} saves started more than one run (${list}); a "watch" run after a "save" run is the watcher's echo of the editor save getting through, and it superseded the save's run.`;
}
