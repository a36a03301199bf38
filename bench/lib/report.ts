import os from 'node:os';
import type { Figure, Skipped } from './result.js';

export interface BenchReport {
  date: string;
  startedAt: string;
  durationS: number;
  mode: 'full' | 'quick' | 'partial' | 'long';
  machine: { cpus: number; cpuModel: string; memGiB: number; kernel: string; node: string; docker?: string };
  cluster: string;
  /** 1-minute load average before and after each suite. */
  load: Record<string, { before: number; after: number }>;
  figures: Figure[];
  skipped: Skipped[];
  raw: Record<string, unknown>;
}

export function machineInfo(docker?: string): BenchReport['machine'] {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 1024 ** 3),
    kernel: os.release(),
    node: process.version,
    ...(docker && { docker }),
  };
}

const SUITE_TITLES: Record<string, string> = {
  'save-latency': '1. Save → compile start',
  'image-push': '2. Stage, image, push',
  overhead: '3. Tool overhead (save → ready)',
  noop: '4. No-op save',
  'watcher-scale': '5. Watcher scale',
  burst: '6. Burst of saves',
  soak: '7. Memory soak',
  'build-patterns': '8. Build patterns (multi-platform, keyed layers, dev build container)',
  activation: '9. Extension activation (integrations loaded on first use)',
  manifests: '10. Deploy from manifests (server-side apply)',
  live: '11. Live update vs rollout',
  'context-mode': '12. Context mode (image.context)',
};

/** Every suite in the report gets its section: a suite without a title here is shown under its name. */
function sections(report: BenchReport): [string, string][] {
  const known = Object.entries(SUITE_TITLES);
  const others = [...new Set([...report.figures.map((f) => f.suite), ...report.skipped.map((s) => s.suite)])].filter((suite) => !(suite in SUITE_TITLES));
  return [...known, ...others.map((suite, i): [string, string] => [suite, `${known.length + i + 1}. ${suite}`])];
}

function num(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '—';
  if (unit === 'ms') return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 1 : 0)} ms`;
  if (unit === 's') return `${value.toFixed(2)} s`;
  if (unit === 'MB') return `${value.toFixed(1)} MB`;
  if (unit === '%') return `${value.toFixed(2)} %`;
  if (unit === 'x') return `${value.toFixed(2)}×`;
  return Number.isInteger(value) ? `${value}` : value.toFixed(1);
}

function ratioText(f: Figure): string {
  if (!f.ratio) return '—';
  const fmt = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '—');
  return `${fmt(f.ratio.median)} / ${fmt(f.ratio.p95)}`;
}

function targetText(f: Figure): string {
  if (!f.target) return '—';
  return `${f.target.text}: **${f.target.met ? 'met' : 'MISSED'}**`;
}

/** The Markdown the README's Performance section quotes: one table per measurement, then notes. */
export function markdown(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `# Tightloop benchmark — ${report.date}`,
    '',
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}${m.docker ? `, Docker Engine ${m.docker}` : ''}.`,
    `Cluster: ${report.cluster}. Mode: ${report.mode}. Wall time: ${(report.durationS / 60).toFixed(1)} min.`,
    `Load average (1 min) before → after each suite: ${Object.entries(report.load)
      .map(([suite, l]) => `${suite} ${l.before.toFixed(1)} → ${l.after.toFixed(1)}`)
      .join(', ')} (on ${m.cpus} cores; anything above ~1 is other work competing with the bench).`,
    '',
    'Every figure is the median and p95 (nearest rank) over n repetitions; **ratio** is median/median and p95/p95',
    'against the baseline named in the row, measured in the same run on the same machine.',
    'Absolute targets are checked against the p95 (counts against their max or min); ratio targets against the median ratio.',
    '',
  ];
  const notes: string[] = [];
  for (const [suite, title] of sections(report)) {
    const rows = report.figures.filter((f) => f.suite === suite);
    const skipped = report.skipped.filter((s) => s.suite === suite);
    if (rows.length === 0 && skipped.length === 0) continue;
    lines.push(`## ${title}`, '');
    if (rows.length) {
      lines.push('| Measurement | n | median | p95 | baseline | baseline median | baseline p95 | ratio (med / p95) | target |');
      lines.push('|---|---:|---:|---:|---|---:|---:|---:|---|');
      for (const f of rows) {
        const b = f.baseline;
        lines.push(
          `| ${f.name} | ${f.stats.n} | ${num(f.stats.median, f.unit)} | ${num(f.stats.p95, f.unit)} | ${b?.name ?? '—'} | ${b ? num(b.stats.median, f.unit) : '—'} | ${b ? num(b.stats.p95, f.unit) : '—'} | ${ratioText(f)} | ${targetText(f)} |`,
        );
        if (f.note) notes.push(`- *${f.name}*: ${f.note}`);
      }
      lines.push('');
    }
    for (const s of skipped) lines.push(`Not measured: ${s.reason}`, '');
  }
  if (notes.length) lines.push('## Notes', '', ...notes, '');
  const missed = report.figures.filter((f) => f.target && !f.target.met);
  lines.push('## Targets', '');
  lines.push(missed.length ? `Missed: ${missed.map((f) => `${f.name} (${f.target!.text}; got ${num(f.target!.value, f.target!.on === 'ratio' ? 'x' : f.unit)})`).join('; ')}.` : 'All measured targets met.');
  lines.push('');
  return lines.join('\n');
}

/** A few lines for the terminal. */
export function summaryText(report: BenchReport): string {
  const out = [`tightloop bench (${report.mode}, ${(report.durationS / 60).toFixed(1)} min):`];
  for (const f of report.figures) {
    const t = f.target ? (f.target.met ? '  ok' : '  MISSED') : '';
    const r = f.ratio && Number.isFinite(f.ratio.median) ? ` (${f.ratio.median.toFixed(2)}× baseline)` : '';
    out.push(`  ${f.name}: median ${num(f.stats.median, f.unit)}, p95 ${num(f.stats.p95, f.unit)}${r}${t}`);
  }
  for (const s of report.skipped) out.push(`  not measured (${s.suite}): ${s.reason}`);
  return out.join('\n');
}
