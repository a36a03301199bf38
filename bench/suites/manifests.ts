import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Engine } from '../../src/engine/index.js';
import { createIntegrations } from '../../src/engine/integrations.js';
import type { BenchContext } from '../lib/context.js';
import { makeFixture } from '../lib/fixture.js';
import { saveAndWait, stageMs } from '../lib/loop.js';
import { figure, type SuiteOutput } from '../lib/result.js';

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;

/**
 * 8. Deploying from manifests (the example's k8s/ folder, server-side apply, image injected):
 *  - first deploy: nothing exists in the cluster; deploy + ready of the run, then `down` (so every
 *    repetition starts from an empty cluster). Baseline: the patch path in the same run — the
 *    workload created beforehand, deploy.workload set, set-image patch + ready.
 *  - no-op save with manifests: a byte-identical save after the first deploy; time beyond compile
 *    and API writes (the rendered objects' hash equals the last apply: nothing is written).
 */
export async function manifests(ctx: BenchContext): Promise<SuiteOutput> {
  const kube = ctx.kube!;
  const reps = ctx.reps(10, 3);
  const repository = `${ctx.repoPrefix}/manifests`;
  const fx = await makeFixture(ctx.tmpRoot, { name: 'manifests', repository, registry: ctx.registry, kube });
  const engine = await Engine.create(fx.configFile, { stages: createIntegrations });
  const first: number[] = [];
  const firstWrites: number[] = [];
  const downMs: number[] = [];
  const patchPath: number[] = [];
  const noopBeyond: number[] = [];
  const noopWrites: number[] = [];
  const noopStages: Record<string, number[]> = {};
  let detail = '';
  try {
    for (let i = -1; i < reps; i++) {
      const w0 = kube.writes();
      const [run] = await engine.run(undefined, { force: false });
      if (run?.status !== 'ok') throw new Error(`first deploy failed: ${run?.error}`);
      if (i >= 0) {
        first.push(stageMs(run, 'deploy') + stageMs(run, 'ready'));
        firstWrites.push(kube.writes() - w0);
      }
      detail = run.records.filter((r) => r.stage === 'deploy' || r.stage === 'ready').map((r) => `${r.stage}: ${r.detail}`).join('; ');
      const t0 = performance.now();
      await engine.down();
      if (i >= 0) downMs.push(performance.now() - t0);
    }

    // Baseline: the patch path on a workload that already exists.
    const patchFx = await makeFixture(ctx.tmpRoot, { name: 'manifests-patch', repository: `${repository}-patch`, registry: ctx.registry, kube });
    const yaml = (await import('yaml')).parse(await readFile(patchFx.configFile, 'utf8'));
    yaml.services.hello.deploy = { workload: 'deployment/hello', container: 'hello', readyTimeout: '2m' };
    await (await import('node:fs/promises')).writeFile(patchFx.configFile, (await import('yaml')).stringify(yaml));
    await kube.apply(path.join(patchFx.root, 'k8s/hello.yaml'));
    const patchEngine = await Engine.create(patchFx.configFile, { stages: createIntegrations });
    try {
      for (let i = -1; i < reps; i++) {
        const [run] = await patchEngine.run(undefined, { force: true });
        if (run?.status !== 'ok') throw new Error(`patch deploy failed: ${run?.error}`);
        if (i >= 0) patchPath.push(stageMs(run, 'deploy') + stageMs(run, 'ready'));
      }
    } finally {
      await patchEngine.dispose();
    }

    // No-op saves with manifests, after one real deploy.
    const [initial] = await engine.run();
    if (initial?.status !== 'ok') throw new Error(`deploy failed: ${initial?.error}`);
    await engine.startWatching();
    const source = await readFile(fx.source, 'utf8');
    for (let i = 0; i < reps * 2; i++) {
      const w0 = kube.writes();
      const saved = await saveAndWait(engine, fx, source);
      const total = (saved.finishedAt.ready ?? saved.runFinishedAt) - saved.savedAt;
      noopBeyond.push(total - stageMs(saved.summary, 'compile'));
      noopWrites.push(kube.writes() - w0);
      for (const r of saved.summary.records) (noopStages[`${r.stage} ${r.status}`] ??= []).push(r.durationMs);
    }
    await engine.down();
  } finally {
    await engine.dispose();
  }
  const s = 'manifests';
  return {
    figures: [
      figure(s, 'first deploy from manifests (deploy + ready, empty cluster)', 'ms', first, {
        baseline: { name: 'patch path: set-image on an existing workload + ready', samples: patchPath },
        note: `last run: ${detail}; API writes per first deploy: ${firstWrites.join(', ')}`,
      }),
      figure(s, '`down` (delete and wait until gone)', 'ms', downMs),
      figure(s, 'no-op save with manifests: save → done, beyond compile', 'ms', noopBeyond, {
        target: { on: 'p95', limit: 20, text: 'p95 ≤ 20 ms' },
        note: `median per stage: ${Object.entries(noopStages).map(([k, v]) => `${k} ${median(v).toFixed(1)} ms`).join(', ')}`,
      }),
      figure(s, 'no-op save with manifests: Kubernetes API writes', 'writes', noopWrites, { target: { on: 'max', limit: 0, text: 'zero writes' } }),
    ],
    raw: { reps, first, firstWrites, downMs, patchPath, noopBeyond, noopWrites },
  };
}
