import type { LogLine, StageName } from '../../engine/types.js';

type Stage = StageName | 'pod';

/** Runs per service whose logs stay in memory (the panel shows recent runs; older ones are in the output channel). */
export const LOG_RUNS_PER_SERVICE = 5;
/** Newest lines kept per stage of a run (a chatty compiler or pod must not grow the extension host). */
export const LOG_LINES_PER_STAGE = 2000;
/** Characters kept of one line (a minified bundle printed on one line is cut, not kept whole). */
export const LOG_LINE_CHARS = 8 * 1024;

interface RunLogs {
  runId: string;
  stages: Map<Stage, { lines: LogLine[]; dropped: number }>;
}

/**
 * Log lines kept in memory for the panel's "log of the selected stage": per service the last
 * `runsPerService` runs, per stage the newest `linesPerStage` lines. The output channel has
 * everything; this only has to be enough to explain a failure without unbounded growth.
 */
export class LogBuffer {
  private readonly services = new Map<string, RunLogs[]>();

  constructor(
    private readonly runsPerService = LOG_RUNS_PER_SERVICE,
    private readonly linesPerStage = LOG_LINES_PER_STAGE,
  ) {}

  add(line: LogLine): void {
    if (!line.runId || !line.stage) return;
    let runs = this.services.get(line.service);
    if (!runs) this.services.set(line.service, (runs = []));
    let run = runs.find((r) => r.runId === line.runId);
    if (!run) {
      run = { runId: line.runId, stages: new Map() };
      runs.push(run);
      if (runs.length > this.runsPerService) runs.shift();
    }
    let stage = run.stages.get(line.stage);
    if (!stage) run.stages.set(line.stage, (stage = { lines: [], dropped: 0 }));
    stage.lines.push(line.text.length > LOG_LINE_CHARS ? { ...line, text: `${line.text.slice(0, LOG_LINE_CHARS)} … (${line.text.length - LOG_LINE_CHARS} more characters)` } : line);
    if (stage.lines.length > this.linesPerStage) {
      const excess = stage.lines.length - this.linesPerStage;
      stage.lines.splice(0, excess);
      stage.dropped += excess;
    }
  }

  /** `available: false` when the run is not in memory any more; a started run without output yet has no lines. */
  get(service: string, runId: string, stage: Stage, max = Infinity): { lines: LogLine[]; dropped: number; available: boolean } {
    const run = this.services.get(service)?.find((r) => r.runId === runId);
    if (!run) return { lines: [], dropped: 0, available: false };
    const entry = run.stages.get(stage);
    if (!entry) return { lines: [], dropped: 0, available: true };
    const cut = Math.max(0, entry.lines.length - max);
    return { lines: entry.lines.slice(cut), dropped: entry.dropped + cut, available: true };
  }

  /** Registers a run that has started, so "no output yet" is distinguishable from "forgotten". */
  startRun(service: string, runId: string): void {
    let runs = this.services.get(service);
    if (!runs) this.services.set(service, (runs = []));
    if (runs.some((r) => r.runId === runId)) return;
    runs.push({ runId, stages: new Map() });
    if (runs.length > this.runsPerService) runs.shift();
  }

  clear(): void {
    this.services.clear();
  }
}
