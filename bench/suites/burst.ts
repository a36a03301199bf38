import { watch } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChildMessage } from '../child/engine-child.js';
import { bundleChild, EngineProcess } from '../lib/child.js';
import type { BenchContext } from '../lib/context.js';
import { makeFixture, sourceWithMarker, type Fixture } from '../lib/fixture.js';
import { figure, type Figure, type SuiteOutput } from '../lib/result.js';
import { epochNow, sleep } from '../lib/stats.js';

const SAVES = 200;
const SPAN_MS = 2000;

/**
 * 6. Burst: 200 saves of the source in 2 s (a formatter on save, a generator, a `git checkout`).
 * Counts the runs the engine starts and checks that the binary staged at the end was built from
 * the last save. Two variants: file watcher only, and editor (each write followed by a save
 * event, as VS Code sends them). Baseline: the change events plain fs.watch delivers, i.e. the
 * builds a naive watch-and-rebuild loop would start.
 */
export async function burst(ctx: BenchContext): Promise<SuiteOutput> {
  const reps = ctx.reps(3, 1);
  const full = ctx.docker && !!ctx.kube && ctx.integrations.docker && ctx.integrations.kube;
  const fx = await makeFixture(ctx.tmpRoot, {
    name: 'burst',
    ...(full && { repository: `${ctx.repoPrefix}/burst`, registry: ctx.registry, kube: ctx.kube }),
  });
  if (full) await ctx.kube!.apply(path.join(fx.root, 'k8s/hello.yaml'));
  const engine = await EngineProcess.start(await bundleChild(ctx.tmpRoot), fx.configFile, { integrations: full, initial: true });
  const figures: Figure[] = [];
  const raw: Record<string, unknown> = { engineHasDockerAndKubeStages: full };
  try {
    for (const variant of ['watcher', 'editor'] as const) {
      const runs: number[] = [];
      const naive: number[] = [];
      const staged: number[] = [];
      const lastToDone: number[] = [];
      const details: unknown[] = [];
      for (let rep = 0; rep < reps; rep++) {
        const result = await oneBurst(engine, fx, `burst-${variant}-${rep}`, variant === 'editor');
        runs.push(result.runs);
        naive.push(result.fsWatchEvents);
        staged.push(result.lastStaged ? 1 : 0);
        lastToDone.push(result.lastSaveToDoneMs);
        details.push(result);
        ctx.log(`burst ${variant} #${rep}: ${result.runs} runs (${JSON.stringify(result.statuses)}), last content staged: ${result.lastStaged}, done ${Math.round(result.lastSaveToDoneMs)} ms after the last save`);
      }
      const s = 'burst';
      const label = variant === 'watcher' ? 'file watcher' : 'editor save events + watcher';
      figures.push(
        figure(s, `runs for ${SAVES} saves in 2 s, ${label}`, 'runs', runs, {
          baseline: { name: 'fs.watch events (naive watch-and-build loop)', samples: naive },
          target: { on: 'p95', limit: 2, text: 'p95 ≤ 2 runs' },
        }),
        figure(s, `last save's content staged (1 = yes), ${label}`, 'count', staged, { target: { on: 'min', op: '>=', limit: 1, text: 'every repetition' } }),
        figure(s, `last save → final run finished, ${label}`, 'ms', lastToDone, {
          note: 'No baseline: a naive loop has no notion of "the last save".',
        }),
      );
      raw[variant] = details;
    }
  } finally {
    await engine.stop();
  }
  return { figures, raw };
}

async function oneBurst(engine: EngineProcess, fx: Fixture, label: string, editor: boolean) {
  await engine.settle();
  const contents = await Promise.all(Array.from({ length: SAVES }, (_, i) => sourceWithMarker(`${label}-${i}`)));
  const statuses: Record<string, number> = {};
  let runs = 0;
  let lastFinished = 0;
  const t0 = epochNow();
  // Per run, relative to the first save: when it started and why, each stage's time, how it ended.
  const timeline: { runId: string; reason: string; startedAt: number; stages: string[]; status?: string; finishedAt?: number }[] = [];
  const off = engine.on((m: ChildMessage) => {
    if (m.ev === 'run-started') {
      runs++;
      timeline.push({ runId: m.runId, reason: m.reason, startedAt: Math.round(m.at - t0), stages: [] });
    }
    if (m.ev === 'stage-finished') timeline.find((r) => r.runId === m.runId)?.stages.push(`${m.stage} ${m.status} ${Math.round(m.durationMs)}`);
    if (m.ev === 'run-finished') {
      statuses[m.status] = (statuses[m.status] ?? 0) + 1;
      lastFinished = m.at;
      Object.assign(timeline.find((r) => r.runId === m.runId) ?? {}, { status: m.status, finishedAt: Math.round(m.at - t0) });
    }
  });
  // The naive baseline watches the same folder during the same burst.
  let fsWatchEvents = 0;
  const naive = watch(path.dirname(fx.source), () => fsWatchEvents++);
  const start = performance.now();
  let lastSaveAt = 0;
  try {
    for (let i = 0; i < SAVES; i++) {
      // Paced by absolute time so the 200 saves span 2 s however long each write takes.
      const due = start + (i * SPAN_MS) / SAVES;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      await writeFile(fx.source, contents[i]!);
      lastSaveAt = epochNow();
      if (editor) engine.send({ cmd: 'save', files: [fx.source] });
    }
    await sleep(300); // past the quiet window, so the last batch is queued
    await engine.settle();
  } finally {
    off();
    naive.close();
  }
  const binary = await readFile(fx.stagedBinary).catch(() => Buffer.alloc(0));
  // The marker ends the greeting string, so a NUL follows it: -19 never matches -199.
  const lastMarker = `${label}-${SAVES - 1}`;
  return {
    runs,
    statuses,
    fsWatchEvents,
    burstMs: performance.now() - start,
    timeline,
    lastStaged: binary.includes(Buffer.from(`${lastMarker}\0`)),
    lastSaveToDoneMs: lastFinished - lastSaveAt,
  };
}
