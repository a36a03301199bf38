import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { summarize } from '../lib/stats.js';

/** Named samples of one checkout: figure name → milliseconds. */
export type Runs = Record<string, number[]>;

/** BASE and NEW: the two checkouts compared (paths to their roots). */
export function abRoots(): Map<string, string> {
  const { BASE, NEW } = process.env;
  if (!BASE || !NEW) throw new Error('set BASE and NEW to the two checkouts to compare (e.g. BASE=../base NEW=.)');
  return new Map([
    ['base', path.resolve(BASE)],
    ['new', path.resolve(NEW)],
  ]);
}

/** A module of one checkout (loaded through tsx, as the tests are). */
export async function load<T>(root: string, file: string): Promise<T> {
  return (await import(pathToFileURL(path.join(root, file)).href)) as T;
}

export function show(runs: Runs): string {
  return Object.entries(runs)
    .map(([name, samples]) => {
      const s = summarize(samples);
      return `${name} ${s.median.toFixed(1)} ms (p95 ${s.p95.toFixed(1)})`;
    })
    .join(', ');
}

/** new ÷ base, median over median, per figure. */
export function ratio(runs: Record<string, Runs>): string {
  const base = runs.base!;
  const next = runs.new!;
  return `new/base medians: ${Object.keys(base)
    .map((name) => `${name} ${(summarize(next[name]!).median / summarize(base[name]!).median).toFixed(2)}`)
    .join(', ')}`;
}
