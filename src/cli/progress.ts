import { formatDuration } from '../shared/format.js';
import type { EngineEvent, StageName } from '../engine/index.js';

/**
 * Shows what is running while long stages run: on a TTY one line redrawn every 100 ms
 * ("⠹ hello · compile 3.4 s"); elsewhere (CI logs) a line per stage start.
 */
export class Progress {
  private readonly running = new Map<string, { stage: StageName; since: number }>();
  private timer?: NodeJS.Timeout;
  private frame = 0;
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  handle(event: EngineEvent): void {
    if (event.type === 'stage-started') {
      this.running.set(event.service, { stage: event.stage, since: Date.now() });
      if (!this.out.isTTY) this.out.write(`  ${event.service} · ${event.stage}…\n`);
      else this.ensureTimer();
    } else if (event.type === 'run-finished') {
      this.running.delete(event.summary.service);
    }
  }

  /** Print a block of text without tearing the progress line. */
  print(text: string): void {
    this.clear();
    this.out.write(text.endsWith('\n') ? text : `${text}\n`);
    this.draw();
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
  }

  private draw(): void {
    if (!this.out.isTTY || this.running.size === 0) return this.clear();
    const spinner = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[this.frame++ % 10];
    const parts = [...this.running].map(([service, r]) => `${service} · ${r.stage} ${formatDuration(Date.now() - r.since)}`);
    const line = `${spinner} ${parts.join('   ')}`.slice(0, (this.out.columns || 100) - 1);
    this.out.write(`\r\x1b[2K${line}`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }
}
