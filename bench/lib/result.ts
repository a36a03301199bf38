import { ratio, summarize, type Stats } from './stats.js';

export type Unit = 'ms' | 's' | 'MB' | '%' | 'runs' | 'images' | 'writes' | 'x' | 'count';

/** What a target is checked against: a statistic of the figure, or the median ratio to its baseline. */
export type TargetOn = 'p95' | 'median' | 'max' | 'min' | 'ratio';

export interface Target {
  on: TargetOn;
  limit: number;
  /** Default '<=' (value must not exceed the limit); '>=' for checks like "every repetition passed". */
  op?: '<=' | '>=';
  /** As written in the issue, e.g. "p95 ≤ 30 ms". */
  text: string;
}

export interface Figure {
  suite: string;
  /** Short row label, e.g. "save → compile start, editor event". */
  name: string;
  unit: Unit;
  stats: Stats;
  samples: number[];
  baseline?: { name: string; stats: Stats; samples: number[] };
  /** median / baseline median and p95 / baseline p95. */
  ratio?: { median: number; p95: number };
  target?: Target & { met: boolean; value: number };
  /** Why a figure looks the way it does, or why something could not be measured. */
  note?: string;
}

export function figure(
  suite: string,
  name: string,
  unit: Unit,
  samples: number[],
  options: { baseline?: { name: string; samples: number[] }; target?: Target; note?: string } = {},
): Figure {
  const stats = summarize(samples);
  const out: Figure = { suite, name, unit, stats, samples };
  if (options.baseline) {
    const base = summarize(options.baseline.samples);
    out.baseline = { name: options.baseline.name, stats: base, samples: options.baseline.samples };
    out.ratio = { median: ratio(stats.median, base.median), p95: ratio(stats.p95, base.p95) };
  }
  if (options.target) {
    const t = options.target;
    const value = t.on === 'ratio' ? (out.ratio?.median ?? NaN) : stats[t.on];
    // NaN (nothing measured) never counts as met.
    out.target = { ...t, value, met: Number.isFinite(value) && (t.op === '>=' ? value >= t.limit : value <= t.limit) };
  }
  if (options.note) out.note = options.note;
  return out;
}

/** A suite that could not run (missing service, missing integration) says so instead of vanishing. */
export interface Skipped {
  suite: string;
  reason: string;
}

export interface SuiteOutput {
  figures: Figure[];
  skipped?: Skipped[];
  /** Extra raw data worth keeping (per-run records, sizes, config used). */
  raw?: Record<string, unknown>;
}
