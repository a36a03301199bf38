import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/**
 * CPU seconds the process has used (all its threads; not its children). Summed from each
 * thread's schedstat (nanoseconds) because /proc/PID/stat counts in 10 ms ticks, too coarse for
 * a 1 % target over a few seconds; falls back to stat when schedstat is missing.
 */
export function cpuSeconds(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended between readdir and read
      }
    }
    return ns / 1e9;
  } catch {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  }
}

/** CPU seconds per thread name (comm: "node", "V8 DefaultWorke", "libuv-worker", …), summed over threads of that name. */
export function threadCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        out[name] = (out[name] ?? 0) + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
      } catch {
        // the thread ended between readdir and read
      }
    }
  } catch {
    // the process is gone
  }
  return out;
}

/** Resident set size in MB (10^6 bytes) from VmRSS. */
export function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
  return (kib * 1024) / 1e6;
}

/** Samples a process every `intervalMs` for `durationMs`: CPU % of one core per interval, and RSS. */
export async function sampleProcess(
  pid: number,
  durationMs: number,
  intervalMs = 1000,
): Promise<{ cpuPercent: number[]; rssMB: number[]; threads: Record<string, number>[] }> {
  const cpuPercent: number[] = [];
  const rss: number[] = [];
  // Which thread used the CPU in each interval: names the cause of a spike (main thread, GC
  // helpers, libuv's pool) where a JS profile cannot see it.
  const threads: Record<string, number>[] = [];
  let lastThreads = threadCpuSeconds(pid);
  let lastCpu = cpuSeconds(pid);
  let lastAt = performance.now();
  const end = lastAt + durationMs;
  while (performance.now() < end - intervalMs / 2) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const cpu = cpuSeconds(pid);
    const t = performance.now();
    cpuPercent.push(((cpu - lastCpu) / ((t - lastAt) / 1000)) * 100);
    rss.push(rssMB(pid));
    const nowThreads = threadCpuSeconds(pid);
    threads.push(Object.fromEntries(Object.entries(nowThreads).map(([name, sec]) => [name, ((sec - (lastThreads[name] ?? 0)) / ((t - lastAt) / 1000)) * 100])));
    lastThreads = nowThreads;
    lastCpu = cpu;
    lastAt = t;
  }
  return { cpuPercent, rssMB: rss, threads };
}
