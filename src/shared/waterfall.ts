import { SERVICE_STAGES, TASK_STAGES, type StageName } from '../engine/types.js';
import type { LiveRun, RunView, TimingRecordView } from './messages.js';

/** How a stage looks in the waterfall. `pending`: not reached yet in a live run; `not-run`: the run ended before it. */
export type BarState = 'ok' | 'failed' | 'skipped' | 'cancelled' | 'running' | 'pending' | 'not-run';

export interface WaterfallBar {
  stage: StageName;
  state: BarState;
  /** Position and length on the run's timeline, in percent of its total (0..100). */
  offsetPct: number;
  widthPct: number;
  durationMs: number;
  detail?: string;
}

export interface WaterfallLayout {
  /** Length of the timeline: from the first change (trigger) to the end of the last stage (or now). */
  totalMs: number;
  bars: WaterfallBar[];
}

/** Tasks only run their command (the `task` stage); services go through every stage. */
export function stagesFor(kind: 'service' | 'task'): readonly StageName[] {
  return kind === 'task' ? TASK_STAGES : SERVICE_STAGES;
}

/**
 * Lays out a run (finished, or live at `now`) as one bar per stage on a shared timeline. Bars are
 * placed by their real start times, so waiting between stages shows as a gap.
 */
export function layoutWaterfall(run: RunView | LiveRun, kind: 'service' | 'task', now: number): WaterfallLayout {
  const live = !('status' in run);
  const byStage = new Map<StageName, TimingRecordView>(run.records.map((r) => [r.stage, r]));
  const running = live && run.stage && !byStage.has(run.stage) ? { stage: run.stage, startedAt: run.stageStartedAt ?? now } : undefined;

  const starts = [run.startedAt, ...run.records.map((r) => r.startedAt)];
  const origin = Math.min(...starts);
  const ends = run.records.map((r) => r.startedAt + r.durationMs);
  if (running) ends.push(Math.max(now, running.startedAt));
  if (!live) ends.push(run.startedAt + run.durationMs);
  else ends.push(now);
  const totalMs = Math.max(1, Math.max(...ends) - origin);
  const pct = (ms: number) => clamp((ms / totalMs) * 100);

  // `live` belongs only to services with live update: a row only when the run has it.
  const shown = stagesFor(kind).filter((stage) => stage !== 'live' || byStage.has(stage) || running?.stage === stage);
  const bars = shown.map((stage): WaterfallBar => {
    const record = byStage.get(stage);
    if (record) {
      return {
        stage,
        state: record.status,
        offsetPct: pct(record.startedAt - origin),
        widthPct: record.status === 'skipped' ? 0 : pct(record.durationMs),
        durationMs: record.durationMs,
        ...(record.detail && { detail: record.detail }),
      };
    }
    if (running?.stage === stage) {
      const elapsed = Math.max(0, now - running.startedAt);
      return { stage, state: 'running', offsetPct: pct(running.startedAt - origin), widthPct: pct(elapsed), durationMs: elapsed };
    }
    return { stage, state: live ? 'pending' : 'not-run', offsetPct: 100, widthPct: 0, durationMs: 0 };
  });
  // A bar must not overflow the track because of rounding.
  for (const bar of bars) bar.widthPct = Math.min(bar.widthPct, 100 - bar.offsetPct);
  return { totalMs, bars };
}

function clamp(value: number): number {
  return Math.min(100, Math.max(0, Number.isFinite(value) ? value : 0));
}

/** Total of a finished run, or elapsed time of a live one. */
export function runElapsed(run: RunView | LiveRun, now: number): number {
  return 'status' in run ? run.durationMs : Math.max(0, now - run.startedAt);
}
