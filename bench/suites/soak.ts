import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChildMessage } from '../child/engine-child.js';
import { baseBinary } from '../lib/artifact.js';
import { bundleChild, EngineProcess } from '../lib/child.js';
import type { BenchContext } from '../lib/context.js';
import { imagesUnder } from '../lib/docker.js';
import { registryTags } from '../lib/registry.js';
import { makeFixture, sourceWithMarker } from '../lib/fixture.js';
import { rssMB } from '../lib/procstat.js';
import { figure, type Figure, type SuiteOutput } from '../lib/result.js';
import { epochNow, summarize } from '../lib/stats.js';

const KEEP = 5;
/** `--long`: a working day of saves in one process; memory after a forced GC must be flat from loop 100. */
const LONG_LOOPS = 1000;
const LONG_FROM = 100;
/** `--snapshots DIR`: heap snapshots after these loops (compare them in DevTools → Memory → Comparison). */
const SNAPSHOT_AT = [50, 300];

/**
 * 7. Memory soak: 300 full loops (save → compile → stage → image → push → deploy → ready) in one
 * engine process. The compile step is a cheap artifact generator (the static binary plus 16 fresh
 * random bytes), so every loop ships a new image without spending minutes in gcc. RSS is read
 * from /proc after every loop; the baseline is the same process early in the soak (after warm-up).
 */
export async function soak(ctx: BenchContext): Promise<SuiteOutput> {
  const loops = ctx.long ? LONG_LOOPS : ctx.reps(300, 30);
  const window = Math.max(5, Math.floor(loops / 6));
  const warmup = Math.max(5, Math.floor(loops / 15));
  const base = path.join(ctx.tmpRoot, 'base-hello');
  await writeFile(base, await baseBinary(ctx.tmpRoot));
  const repository = `${ctx.repoPrefix}/soak`;
  const fx = await makeFixture(ctx.tmpRoot, {
    name: 'soak',
    repository,
    registry: ctx.registry,
    kube: ctx.kube,
    keep: KEEP,
    compile: `mkdir -p build && cp '${base}' build/hello && head -c 16 /dev/urandom >> build/hello`,
  });
  await ctx.kube!.apply(path.join(fx.root, 'k8s/hello.yaml'));
  const engine = await EngineProcess.start(await bundleChild(ctx.tmpRoot), fx.configFile, { integrations: true, initial: true });
  const rss: number[] = [];
  const loopMs: number[] = [];
  const failures: string[] = [];
  // Where memory sits (heap, external, array buffers): every 10 loops as is, and after a forced
  // GC after the early window and at the end, which separates retained memory from garbage.
  const heap: { loop: number; gc: boolean; usage: NodeJS.MemoryUsage }[] = [];
  try {
    for (let i = 0; i < loops; i++) {
      const finished = engine.waitFor<Extract<ChildMessage, { ev: 'run-finished' }>>((m) => m.ev === 'run-finished', 120_000, `loop ${i} did not finish`);
      await writeFile(fx.source, await sourceWithMarker(`soak-${i}`));
      const t0 = epochNow();
      engine.send({ cmd: 'save', files: [fx.source] });
      const done = await finished;
      if (done.status !== 'ok') failures.push(`loop ${i}: ${done.status} ${done.error ?? ''}`);
      loopMs.push(done.at - t0);
      await engine.settle();
      rss.push(rssMB(engine.pid));
      if ((i + 1) % 10 === 0) heap.push({ loop: i + 1, gc: false, usage: await engine.memory(false) });
      // The forced GC comes after the early RSS window, so it cannot lower that baseline.
      if (!ctx.long && (i + 1 === warmup + window || i + 1 === loops)) heap.push({ loop: i + 1, gc: true, usage: await engine.memory(true) });
      // --long: the retained-memory curve, read after a forced GC every 50 loops.
      if (ctx.long && (i + 1) % 50 === 0) heap.push({ loop: i + 1, gc: true, usage: await engine.memory(true) });
      if (ctx.snapshots && SNAPSHOT_AT.includes(i + 1)) {
        await mkdir(ctx.snapshots, { recursive: true });
        ctx.log(`soak: heap snapshot ${await engine.snapshot(path.join(ctx.snapshots, `soak-loop-${i + 1}.heapsnapshot`))}`);
      }
      if ((i + 1) % 50 === 0) ctx.log(`soak: ${i + 1}/${loops} loops, RSS ${rss.at(-1)!.toFixed(1)} MB`);
    }
  } finally {
    await engine.stop();
  }
  // Images accumulate in two places: the Docker engine (engine builds) and the registry (every
  // push, and the only place on the direct route, which never touches the engine).
  const left = (await imagesUnder(repository)).filter((ref) => /:tl-/.test(ref));
  const tags = (await registryTags(repository)).filter((t) => t.startsWith('tl-'));
  const early = rss.slice(warmup, warmup + window);
  const late = rss.slice(-window);
  const growth = summarize(late).median - summarize(early).median;
  const gced = heap.filter((h) => h.gc);
  const afterWarmup = ctx.long ? gced.find((h) => h.loop === LONG_FROM)?.usage : gced[0]?.usage;
  const atEnd = gced.at(-1)?.usage;
  const s = 'soak';
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  const retained =
    afterWarmup && atEnd
      ? ` After a forced GC: heap used ${mb(afterWarmup.heapUsed)} → ${mb(atEnd.heapUsed)} MB, external ${mb(afterWarmup.external)} → ${mb(atEnd.external)} MB, RSS ${mb(afterWarmup.rss)} → ${mb(atEnd.rss)} MB (loop ${warmup + window} → ${loops}).`
      : '';
  // The shape of the curve (still climbing, or levelling off) matters as much as the difference.
  const step = Math.max(1, Math.floor(loops / 6));
  const checkpoints = [1, ...Array.from({ length: 6 }, (_, k) => Math.min(loops, (k + 1) * step))]
    .filter((n, k, all) => all.indexOf(n) === k)
    .map((n) => `${n}: ${rss[n - 1]?.toFixed(0)} MB`)
    .join(', ');
  const windows = `loops ${warmup + 1}–${warmup + window} vs the last ${window} of ${loops}`;
  const long: Figure[] = [];
  if (ctx.long && afterWarmup && atEnd) {
    const curve = gced.map((h) => `${h.loop}: ${mb(h.usage.heapUsed)}`).join(', ');
    const rssCurve = gced.map((h) => `${h.loop}: ${mb(h.usage.rss)}`).join(', ');
    long.push(
      figure(s, `heap used after GC, loop ${LONG_FROM} → ${loops}`, 'MB', [(atEnd.heapUsed - afterWarmup.heapUsed) / 1e6], {
        target: { on: 'max', limit: 10, text: '≤ 10 MB' },
        note: `heap used after a forced GC (MB) by loop: ${curve}`,
      }),
      figure(s, `RSS after GC, loop ${LONG_FROM} → ${loops}`, 'MB', [(atEnd.rss - afterWarmup.rss) / 1e6], {
        target: { on: 'max', limit: 10, text: '≤ 10 MB' },
        note: `RSS after a forced GC (MB) by loop: ${rssCurve}`,
      }),
    );
  }
  return {
    figures: [
      ...long,
      figure(s, `engine RSS, last ${window} of ${loops} loops`, 'MB', late, { baseline: { name: `same process, loops ${warmup + 1}–${warmup + window}`, samples: early } }),
      figure(s, `RSS growth over the soak (${windows})`, 'MB', [growth], {
        target: { on: 'max', limit: 20, text: '≤ 20 MB' },
        note: `RSS after loop ${checkpoints}; peak ${Math.max(...rss).toFixed(1)} MB.${retained}${failures.length ? ` ${failures.length} loop(s) failed: ${failures.slice(0, 3).join('; ')}` : ''}`,
      }),
      figure(s, `save → run finished, last ${window} loops`, 'ms', loopMs.slice(-window), {
        baseline: { name: `same process, loops ${warmup + 1}–${warmup + window}`, samples: loopMs.slice(warmup, warmup + window) },
      }),
      figure(s, `images left in the Docker engine after ${loops} loops`, 'images', [left.length], {
        target: { on: 'max', limit: KEEP, text: `≤ image.keep (${KEEP})` },
        note: `a plain CLI loop without GC would leave one image per loop (${loops}); not run, by construction`,
      }),
      figure(s, `tl- tags left in the registry after ${loops} loops`, 'images', [tags.length], {
        target: { on: 'max', limit: KEEP, text: `≤ image.keep (${KEEP})` },
        note: 'the registry side of "GC keeps N": every loop pushes a new tl- tag; each one keeps its layers in the registry storage',
      }),
    ],
    raw: { loops, rssMB: rss, loopMs, imagesLeft: left, registryTagsLeft: tags.length, failures, memoryUsage: heap },
  };
}
