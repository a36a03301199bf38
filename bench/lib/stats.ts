import { percentile } from '../../src/engine/index.js';

/** Summary of repeated samples; p95 is nearest-rank, the same definition `tightloop history` uses. */
export interface Stats {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

export function summarize(samples: number[]): Stats {
  if (samples.length === 0) return { n: 0, median: NaN, p95: NaN, min: NaN, max: NaN, mean: NaN };
  return {
    n: samples.length,
    median: percentile(samples, 50),
    p95: percentile(samples, 95),
    min: Math.min(...samples),
    max: Math.max(...samples),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

/** value / baseline, or NaN when the baseline is zero or missing (shown as "—"). */
export function ratio(value: number, baseline: number): number {
  return baseline > 0 && Number.isFinite(value) ? value / baseline : NaN;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Monotonic milliseconds (sub-ms resolution). */
export const now = () => performance.now();

/** High-resolution epoch milliseconds: comparable across processes on the same machine. */
export const epochNow = () => performance.timeOrigin + performance.now();
