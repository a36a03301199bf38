import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureStateFolder, STATE_DIR_NAME } from '../state-dir.js';
import type { RunSummary, StageName } from '../types.js';
import { stageStats, type StageStats } from './stats.js';

export { percentile, stageStats, type StageStats } from './stats.js';

/**
 * The file (and the copy in memory) may exceed `historyLimit` runs by this factor before it is
 * rewritten with the newest `historyLimit`: rewriting on every append would cost a full write per
 * run, never rewriting would grow memory for ever. Memory holds at most limit × HISTORY_SLACK runs.
 */
export const HISTORY_SLACK = 1.2;

/**
 * Append-only run log (.tightloop/history.jsonl, one RunSummary a line). Bounded: when it grows
 * past the limit by a margin it is rewritten with the newest runs. A corrupt line (an editor,
 * a crash mid-write) is skipped with a warning, never fatal.
 */
export class History {
  private loading?: Promise<RunSummary[]>;
  /** Appends are chained so concurrent runs never interleave or lose a line. */
  private writes: Promise<void> = Promise.resolve();
  readonly file: string;
  private readonly root: string;

  constructor(
    root: string,
    private readonly limit: number,
    private readonly warn: (message: string) => void = () => {},
    /** Which names are tasks: their runs from before the `task` stage existed are read as `task`. */
    private readonly isTask: (name: string) => boolean = () => false,
  ) {
    this.root = root;
    this.file = path.join(root, STATE_DIR_NAME, 'history.jsonl');
  }

  load(): Promise<RunSummary[]> {
    this.loading ??= this.read();
    return this.loading;
  }

  private async read(): Promise<RunSummary[]> {
    let text = '';
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return [];
    }
    const runs: RunSummary[] = [];
    text.split('\n').forEach((line, index) => {
      if (!line.trim()) return;
      try {
        const parsed = JSON.parse(line) as RunSummary;
        if (typeof parsed.service !== 'string' || !Array.isArray(parsed.records)) throw new Error('not a run record');
        runs.push(this.isTask(parsed.service) ? asTaskRun(parsed) : parsed);
      } catch (error) {
        this.warn(`${this.file}:${index + 1}: skipped a corrupt history line (${(error as Error).message})`);
      }
    });
    return runs.slice(-this.limit);
  }

  append(run: RunSummary): Promise<void> {
    const write = this.writes.then(() => this.write(run));
    this.writes = write.catch(() => {});
    return write;
  }

  private async write(run: RunSummary): Promise<void> {
    const runs = await this.load();
    runs.push(run);
    await ensureStateFolder(this.root);
    if (runs.length > this.limit * HISTORY_SLACK) {
      runs.splice(0, runs.length - this.limit);
      const temp = `${this.file}.${process.pid}.tmp`;
      await writeFile(temp, runs.map((r) => JSON.stringify(r)).join('\n') + '\n');
      await rename(temp, this.file);
    } else {
      await appendFile(this.file, JSON.stringify(run) + '\n');
    }
  }

  async recent(service?: string, count = 50): Promise<RunSummary[]> {
    const runs = await this.load();
    return runs.filter((r) => service === undefined || r.service === service).slice(-count);
  }

  /** Per-stage p50/p95 of durations over the last `count` runs (stages that ran, ok or failed). */
  async stats(service: string, count = 50): Promise<StageStats[]> {
    return stageStats(await this.recent(service, count));
  }
}

/** A task run recorded before tasks had their own stage: its command ran as `compile`. */
function asTaskRun(run: RunSummary): RunSummary {
  if (!run.records.some((r) => r.stage === 'compile') && run.failedStage !== 'compile') return run;
  const stage = (name: StageName): StageName => (name === 'compile' ? 'task' : name);
  return {
    ...run,
    records: run.records.map((r) => ({ ...r, stage: stage(r.stage) })),
    ...(run.failedStage && { failedStage: stage(run.failedStage) }),
    ...(run.error && { error: run.error.replace(/^compile: /, 'task: ').replace(/^cancelled during compile:/, 'cancelled during task:') }),
  };
}
