import { appendFile, open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureStateFolder, STATE_DIR_NAME } from '../state-dir.js';
import type { RunSummary, StageName } from '../types.js';
import { acquireLock } from './file-lock.js';
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
 * a crash mid-write) is skipped with a warning, never fatal, and costs only itself: an append
 * after a torn last line starts on a new line.
 *
 * Several processes may share the file (a CLI `watch` and the VS Code extension on one
 * workspace): every append and every rewrite holds `.tightloop/history.lock`, and a rewrite reads
 * the file afresh under it, so it keeps the lines the other process appended meanwhile.
 */
export class History {
  private loading?: Promise<RunSummary[]>;
  /** Appends are chained so concurrent runs never interleave or lose a line. */
  private writes: Promise<void> = Promise.resolve();
  readonly file: string;
  private readonly lockFile: string;
  private readonly root: string;
  /** Lines in the file as far as this process knows (other processes' appends add to it unseen). */
  private fileLines = 0;

  constructor(
    root: string,
    private readonly limit: number,
    private readonly warn: (message: string) => void = () => {},
    /** Which names are tasks: their runs from before the `task` stage existed are read as `task`. */
    private readonly isTask: (name: string) => boolean = () => false,
    /** How long to wait for another process holding the lock before writing without it. */
    private readonly lockTimeoutMs = 10_000,
  ) {
    this.root = root;
    this.file = path.join(root, STATE_DIR_NAME, 'history.jsonl');
    this.lockFile = path.join(root, STATE_DIR_NAME, 'history.lock');
  }

  load(): Promise<RunSummary[]> {
    this.loading ??= this.read().then(({ runs, lines }) => {
      this.fileLines = lines;
      return runs.slice(-this.limit);
    });
    return this.loading;
  }

  /** Every readable run in the file, in order, and how many lines it has. */
  private async read(warn = this.warn): Promise<{ runs: RunSummary[]; lines: number }> {
    let text = '';
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return { runs: [], lines: 0 };
    }
    const runs: RunSummary[] = [];
    let lines = 0;
    text.split('\n').forEach((line, index) => {
      if (!line.trim()) return;
      lines++;
      try {
        const parsed = JSON.parse(line) as RunSummary;
        if (typeof parsed.service !== 'string' || !Array.isArray(parsed.records)) throw new Error('not a run record');
        runs.push(this.isTask(parsed.service) ? asTaskRun(parsed) : withStagingName(parsed));
      } catch (error) {
        warn(`${this.file}:${index + 1}: skipped a corrupt history line (${(error as Error).message})`);
      }
    });
    return { runs, lines };
  }

  append(run: RunSummary): Promise<void> {
    const write = this.writes.then(() => this.write(run));
    this.writes = write.catch(() => {});
    return write;
  }

  private async write(run: RunSummary): Promise<void> {
    const runs = await this.load();
    runs.push(run);
    if (runs.length > this.limit * HISTORY_SLACK) runs.splice(0, runs.length - this.limit);
    await ensureStateFolder(this.root);
    const lock = await acquireLock(this.lockFile, {
      timeoutMs: this.lockTimeoutMs,
      onStale: (owner) => this.warn(`${this.lockFile}: removed a lock left by a process that ended (${owner})`),
    });
    if (!lock) {
      // A live process has held it for seconds (hung?): one line appended with O_APPEND is still
      // whole next to other appends; only the rewrite waits for a later run.
      this.warn(`${this.lockFile} is held by another process for over ${this.lockTimeoutMs / 1000} s: appended without it`);
      await appendFile(this.file, JSON.stringify(run) + '\n');
      return;
    }
    try {
      if (this.fileLines + 1 > this.limit * HISTORY_SLACK) await this.rewrite(run);
      else await this.appendLine(JSON.stringify(run));
    } finally {
      await lock.release();
    }
  }

  /** Under the lock: appends one line, first ending a torn last line (a crash mid-write) with a newline. */
  private async appendLine(line: string): Promise<void> {
    const file = await open(this.file, 'a+');
    try {
      const { size } = await file.stat();
      let torn = false;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await file.read(last, 0, 1, size - 1);
        torn = last[0] !== 0x0a;
      }
      await file.appendFile((torn ? '\n' : '') + line + '\n');
    } finally {
      await file.close();
    }
    this.fileLines++;
  }

  /** Under the lock: the file as it is now (with every process's lines) plus `run`, newest `limit` kept. */
  private async rewrite(run: RunSummary): Promise<void> {
    const { runs } = await this.read(() => {}); // corrupt lines were reported when first read
    runs.push(run);
    const kept = runs.slice(-this.limit);
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, kept.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await rename(temp, this.file);
    this.fileLines = kept.length;
    // Memory follows the file: it now holds the other processes' runs too.
    const memory = await this.load();
    memory.splice(0, memory.length, ...kept);
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

/**
 * A run recorded before the staging step had a name of its own: it was `stage`, which also means
 * any pipeline step. Old lines are read under the current name so stats and the panel join them.
 */
function withStagingName(run: RunSummary): RunSummary {
  const legacy = 'stage';
  if (!run.records.some((r) => (r.stage as string) === legacy) && (run.failedStage as string | undefined) !== legacy) return run;
  const stage = (name: StageName): StageName => ((name as string) === legacy ? 'staging' : name);
  return {
    ...run,
    records: run.records.map((r) => ({ ...r, stage: stage(r.stage) })),
    ...(run.failedStage && { failedStage: stage(run.failedStage) }),
    ...(run.error && { error: run.error.replace(/^stage: /, 'staging: ').replace(/^cancelled during stage:/, 'cancelled during staging:') }),
  };
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
