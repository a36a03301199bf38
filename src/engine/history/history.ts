import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunSummary } from '../types.js';
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

  constructor(
    root: string,
    private readonly limit: number,
    private readonly warn: (message: string) => void = () => {},
  ) {
    this.file = path.join(root, '.tightloop', 'history.jsonl');
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
        runs.push(parsed);
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
    await mkdir(path.dirname(this.file), { recursive: true });
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
