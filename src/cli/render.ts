import { formatDuration } from '../shared/format.js';
import type { RunSummary, StageStats, TimingRecord } from '../engine/index.js';

/** Terminal colours only when writing to a TTY that wants them (NO_COLOR respected). */
export function palette(stream: NodeJS.WriteStream) {
  const on = stream.isTTY && !process.env.NO_COLOR;
  const wrap = (code: number) => (text: string) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);
  return { red: wrap(31), green: wrap(32), yellow: wrap(33), dim: wrap(2), bold: wrap(1), cyan: wrap(36) };
}
type Palette = ReturnType<typeof palette>;

const MARK: Record<TimingRecord['status'], string> = { ok: '✓', failed: '✗', skipped: '–', cancelled: '⊘' };

export function statusColour(c: Palette, status: string): (t: string) => string {
  return status === 'ok' ? c.green : status === 'failed' ? c.red : status === 'cancelled' ? c.yellow : c.dim;
}

/** The per-run timing table printed when a run ends. */
/**
 * `logsShown`: every log line of the run was already printed (watch, --verbose), and the engine
 * logs a failure's evidence with the stage; then the summary points at it instead of repeating it.
 */
export function runTable(summary: RunSummary, c: Palette, logsShown = false): string {
  const head = `${statusColour(c, summary.status)(`${MARK[summary.status]} ${summary.service}`)} ${summary.status} in ${formatDuration(summary.durationMs)}${summary.image ? c.dim(`  → ${summary.image}`) : ''}`;
  const rows = summary.records.map((r) => [
    `  ${r.stage.padEnd(8)}`,
    statusColour(c, r.status)(`${MARK[r.status]} ${r.status.padEnd(9)}`),
    formatDuration(r.durationMs).padStart(9),
    `  ${c.dim(r.detail ?? '')}`,
  ].join(' '));
  const lines = [head, ...rows];
  if (summary.status !== 'ok' && summary.error) {
    lines.push(c.red(`  ${summary.error}`));
    if (summary.hint) lines.push(`  hint: ${summary.hint}`);
    if (logsShown && summary.evidence?.length) lines.push(c.dim(`  ↑ ${summary.failedStage} output above (the "${summary.service} ${summary.failedStage} │" lines)`));
    else for (const line of summary.evidence ?? []) lines.push(c.dim(`  │ ${line}`));
  }
  return lines.join('\n');
}

export function statsTable(service: string, stats: StageStats[], runs: RunSummary[], c: Palette): string {
  const lines = [c.bold(`${service}: ${runs.length} run(s)`), `  ${'stage'.padEnd(8)} ${'runs'.padStart(5)} ${'p50'.padStart(9)} ${'p95'.padStart(9)}`];
  for (const s of stats) lines.push(`  ${s.stage.padEnd(8)} ${String(s.count).padStart(5)} ${formatDuration(s.p50).padStart(9)} ${formatDuration(s.p95).padStart(9)}`);
  lines.push('');
  for (const run of runs.slice(-10)) {
    const when = new Date(run.startedAt).toISOString().replace('T', ' ').slice(0, 19);
    const where = run.failedStage ? ` at ${run.failedStage}` : '';
    lines.push(`  ${c.dim(when)} ${statusColour(c, run.status)(run.status.padEnd(9))} ${formatDuration(run.durationMs).padStart(9)}${where}  ${c.dim(run.trigger.reason)}`);
  }
  return lines.join('\n');
}
