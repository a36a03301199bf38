import { closeSync, mkdirSync, openSync, watch } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bareNode, bundleChild, EngineProcess } from '../lib/child.js';
import type { BenchContext } from '../lib/context.js';
import { makeFixture, sourceWithMarker, type Fixture } from '../lib/fixture.js';
import { sampleProcess } from '../lib/procstat.js';
import { figure, type Figure, type SuiteOutput } from '../lib/result.js';
import { epochNow, sleep } from '../lib/stats.js';

const SIZES = [10_000, 100_000, 300_000];
const PER_DIR = 1000;
const IGNORE = ['target/**', 'build/**', '**/*.swp', '**/*~'];

/**
 * 5. Watcher scale. The service watches its whole folder ("."), with a Rust-like `target/` holding
 * 10k, 100k, then 300k files, ignored. For each size a fresh engine process starts (bundled, plain
 * node, with the Docker and Kubernetes stages when available); we time how long until it watches,
 * then the latency of changes to a watched file, then idle CPU and RSS from /proc.
 * Baselines: a bare `node` process doing nothing (CPU, RSS) and plain fs.watch (latency).
 */
export async function watcherScale(ctx: BenchContext): Promise<SuiteOutput> {
  const events = ctx.reps(10, 3);
  // --long: a minute of 1-second samples, after a forced GC (what the idle target is stated on).
  const idleMs = ctx.long ? 60_000 : ctx.quick ? 6000 : 20_000;
  const intervalMs = ctx.long ? 1000 : 2000;
  const full = ctx.docker && !!ctx.kube && ctx.integrations.docker && ctx.integrations.kube;
  const fx = await makeFixture(ctx.tmpRoot, {
    name: 'watcher-scale',
    watch: { paths: ['.'], ignore: IGNORE },
    ...(full && { repository: `${ctx.repoPrefix}/watcher-scale`, registry: ctx.registry, kube: ctx.kube }),
  });
  if (full) await ctx.kube!.apply(path.join(fx.root, 'k8s/hello.yaml'));
  const bundle = await bundleChild(ctx.tmpRoot);

  const bare = await bareNode();
  const baseline = await sampleProcess(bare.pid, idleMs, intervalMs);
  await bare.stop();

  const figures: Figure[] = [];
  const raw: Record<string, unknown> = { engineHasDockerAndKubeStages: full, ignore: IGNORE, bareNode: baseline };
  const target = path.join(fx.root, 'target');
  let created = 0;
  try {
    for (const size of SIZES) {
      created = populate(target, created, size);
      const label = `${size / 1000}k files in target/`;
      const t0 = performance.now();
      const engine = await EngineProcess.start(bundle, fx.configFile, { integrations: full, initial: false });
      const watchingMs = performance.now() - t0;
      try {
        await saveOnce(engine, fx, `scale-${size}-warmup`); // first run: deploys; not measured
        const latencies: number[] = [];
        for (let i = 0; i < events; i++) latencies.push(await saveOnce(engine, fx, `scale-${size}-${i}`));
        const floor = await fsWatchFloor(path.join(ctx.tmpRoot, 'watcher-floor'), events);
        await sleep(2000); // let post-run work (GC, log followers) quiet down
        if (ctx.long) await engine.memory(true);
        const idle = await sampleProcess(engine.pid, idleMs, intervalMs);
        ctx.log(`watcher-scale ${label}: watching after ${Math.round(watchingMs)} ms, idle CPU ${idle.cpuPercent.map((c) => c.toFixed(2)).join(' ')} %, RSS ${Math.round(Math.max(...idle.rssMB))} MB`);
        const s = 'watcher-scale';
        figures.push(
          figure(s, `idle CPU, ${label}`, '%', idle.cpuPercent, {
            baseline: { name: 'bare node process', samples: baseline.cpuPercent },
            target: { on: 'p95', limit: 1, text: 'p95 ≤ 1 %' },
            note: idleNote(idle, idleMs, intervalMs),
          }),
          figure(s, `RSS, ${label}`, 'MB', idle.rssMB, {
            baseline: { name: 'bare node process', samples: baseline.rssMB },
            target: { on: 'p95', limit: 150, text: 'p95 ≤ 150 MB' },
          }),
          figure(s, `change → compile start, ${label}`, 'ms', latencies, {
            baseline: { name: 'plain fs.watch', samples: floor },
            note: `engine watching ${Math.round(watchingMs)} ms after process start`,
          }),
        );
        raw[`${size}`] = { watchingMs, latencies, fsWatch: floor, idle };
        if (ctx.snapshots) {
          // Not during the measured window: the profiler's own sampling costs CPU.
          await mkdir(ctx.snapshots, { recursive: true });
          ctx.log(`watcher-scale: CPU profile ${await engine.profile(path.join(ctx.snapshots, `idle-${size}.cpuprofile`), idleMs)}`);
        }
      } finally {
        await engine.stop();
      }
    }
  } finally {
    await rm(target, { recursive: true, force: true });
  }
  return { figures, raw };
}

/** The window mean, and whether the busiest interval coincides with the heap shrinking (a V8 GC). */
function idleNote(idle: { cpuPercent: number[]; rssMB: number[]; threads: Record<string, number>[] }, idleMs: number, intervalMs: number): string {
  const mean = idle.cpuPercent.reduce((a, b) => a + b, 0) / Math.max(1, idle.cpuPercent.length);
  const worst = idle.cpuPercent.indexOf(Math.max(...idle.cpuPercent));
  const before = idle.rssMB[worst - 1] ?? idle.rssMB[worst]!;
  const drop = before - idle.rssMB[worst]!;
  const gc = drop > 5 ? `; in that interval RSS fell ${drop.toFixed(0)} MB (${before.toFixed(0)} → ${idle.rssMB[worst]!.toFixed(0)}): a V8 garbage collection after the runs, not the watcher` : '';
  const busy = Object.entries(idle.threads[worst] ?? {})
    .filter(([, pct]) => pct >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([name, pct]) => `${name} ${pct.toFixed(2)} %`)
    .join(', ');
  // Spikes at a fixed period are a timer; say which period.
  const spikes = idle.cpuPercent.flatMap((c, i) => (c > Math.max(0.1, mean * 2) ? [i] : []));
  const gaps = spikes.slice(1).map((s, k) => s - spikes[k]!);
  const period = gaps.length >= 3 ? gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)]! * (intervalMs / 1000) : undefined;
  // V8's memory reducer re-checks the heap every 8 s after a full GC, on the main thread; a CPU
  // profile of such a minute holds no JavaScript (see bench/README.md).
  const reducer = period === 8 && /^node /.test(busy) ? ": V8's memory reducer (8 s period after a full GC, main thread, no JavaScript)" : '';
  const periodic = period ? `; ${spikes.length} spikes, typically ${period} s apart${reducer}` : '';
  return `mean over the ${idleMs / 1000} s window ${mean.toFixed(2)} %; busiest ${intervalMs / 1000} s interval ${idle.cpuPercent[worst]!.toFixed(2)} % (by thread: ${busy || 'none'})${periodic}${gc}`;
}

/** Grows target/ from `from` to `to` empty files, 1000 per folder (like build output trees). */
function populate(root: string, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const dir = path.join(root, 'debug', 'deps', `d${Math.floor(i / PER_DIR)}`);
    if (i % PER_DIR === 0 || i === from) mkdirSync(dir, { recursive: true });
    closeSync(openSync(path.join(dir, `f${i}.rmeta`), 'w'));
  }
  return to;
}

/** Writes the watched source file; returns write → compile start (ms) as seen by the engine process. */
async function saveOnce(engine: EngineProcess, fx: Fixture, marker: string): Promise<number> {
  const content = await sourceWithMarker(marker);
  const started = engine.waitFor<{ ev: 'stage-started'; at: number; stage: string; runId: string }>(
    (m) => m.ev === 'stage-started' && m.stage === 'compile',
    60_000,
    'no compile started after a change',
  );
  const t0 = epochNow();
  await writeFile(fx.source, content);
  const { at } = await started;
  await engine.settle();
  return at - t0;
}

/** Plain fs.watch latency, in a folder of its own (a write under src/ would start engine runs). */
async function fsWatchFloor(dir: string, count: number): Promise<number[]> {
  mkdirSync(dir, { recursive: true });
  const samples: number[] = [];
  let waiting: ((at: number) => void) | undefined;
  const watcher = watch(dir, () => {
    waiting?.(epochNow());
    waiting = undefined;
  });
  try {
    for (let i = 0; i < count; i++) {
      const seen = new Promise<number>((resolve) => (waiting = resolve));
      const t0 = epochNow();
      await writeFile(path.join(dir, 'floor.txt'), `${i}`);
      samples.push((await seen) - t0);
      await sleep(30);
    }
  } finally {
    watcher.close();
  }
  return samples;
}
