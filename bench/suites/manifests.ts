import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../src/engine/config/load.js';
import { Engine } from '../../src/engine/index.js';
import { createIntegrations } from '../../src/engine/integrations.js';
import { projectId } from '../../src/engine/kube/manifests/deploy-stage.js';
import { prepareObjects } from '../../src/engine/kube/manifests/prepare.js';
import { parseManifestTexts, readManifestTexts } from '../../src/engine/kube/manifests/source.js';
import type { BenchContext } from '../lib/context.js';
import { makeFixture, type Fixture } from '../lib/fixture.js';
import { saveAndWait, stageMs } from '../lib/loop.js';
import { figure, type SuiteOutput } from '../lib/result.js';

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;

/**
 * 8. Deploying from manifests (the example's k8s/ folder, server-side apply, image injected):
 *  - first deploy: nothing exists in the cluster; deploy + ready of the run, then `down` (so every
 *    repetition starts from an empty cluster). Baseline: the patch path in the same run — the
 *    workload created beforehand, deploy.workload set, set-image patch + ready.
 *  - no-op save with manifests: a byte-identical save after the first deploy; time beyond compile
 *    (baseline: the same save on the patch path, where delivery is skipped outright) and API writes.
 *  - the apply decision of those no-op saves (the deploy stage, which finds nothing to apply), for
 *    the example and for a large stack (hundreds of KB of YAML, like a chart with its CRDs).
 *    Baseline: what that decision cost before it was keyed by bytes — read, parse and prepare the
 *    same manifests, then hash them — timed in the same run.
 */
export async function manifests(ctx: BenchContext): Promise<SuiteOutput> {
  const kube = ctx.kube!;
  const reps = ctx.reps(10, 3);
  const repository = `${ctx.repoPrefix}/manifests`;
  const fx = await manifestFixture(ctx, 'manifests', repository);
  const engine = await Engine.create(fx.configFile, { stages: createIntegrations });
  const first: number[] = [];
  const firstWrites: number[] = [];
  const downMs: number[] = [];
  const patchPath: number[] = [];
  const patchNoop: number[] = [];
  const noop = { beyond: [] as number[], writes: [] as number[], decision: [] as number[], stages: {} as Record<string, number[]> };
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
    const yaml = parse(await readFile(patchFx.configFile, 'utf8'));
    yaml.services.hello.deploy = { workload: 'deployment/hello', container: 'hello', readyTimeout: '2m' };
    await writeFile(patchFx.configFile, stringify(yaml));
    await kube.apply(path.join(patchFx.root, 'k8s/hello.yaml'));
    const patchEngine = await Engine.create(patchFx.configFile, { stages: createIntegrations });
    try {
      for (let i = -1; i < reps; i++) {
        const [run] = await patchEngine.run(undefined, { force: true });
        if (run?.status !== 'ok') throw new Error(`patch deploy failed: ${run?.error}`);
        if (i >= 0) patchPath.push(stageMs(run, 'deploy') + stageMs(run, 'ready'));
      }
      await patchEngine.startWatching();
      const source = await readFile(patchFx.source, 'utf8');
      for (let i = 0; i < reps * 2; i++) {
        const saved = await saveAndWait(patchEngine, patchFx, source);
        patchNoop.push((saved.finishedAt.ready ?? saved.runFinishedAt) - saved.savedAt - stageMs(saved.summary, 'compile'));
      }
    } finally {
      await patchEngine.dispose();
    }

    // No-op saves with manifests, after one real deploy.
    Object.assign(noop, await noopSaves(engine, fx, kube.writes, reps * 2));
    await engine.down();
  } finally {
    await engine.dispose();
  }

  // The same with a large stack next to the app: the no-op decision must not grow with parsing.
  const largeFx = await manifestFixture(ctx, 'manifests-large', `${repository}-large`);
  const stack = largeStack(60);
  await writeFile(path.join(largeFx.root, 'k8s/stack.yaml'), stack.text);
  const largeEngine = await Engine.create(largeFx.configFile, { stages: createIntegrations });
  let large: Awaited<ReturnType<typeof noopSaves>>;
  try {
    const [initial] = await largeEngine.run();
    if (initial?.status !== 'ok') throw new Error(`large deploy failed: ${initial?.error}`);
    large = await noopSaves(largeEngine, largeFx, kube.writes, reps * 2);
    await largeEngine.down();
  } finally {
    await largeEngine.dispose();
  }

  const fullDecision = await fullDecisionTimes(fx, reps * 2);
  const fullLarge = await fullDecisionTimes(largeFx, reps * 2);
  const s = 'manifests';
  const decisionBaseline = 'read + parse + prepare + hash the same manifests (the decision before the apply key)';
  return {
    figures: [
      figure(s, 'first deploy from manifests (deploy + ready, empty cluster)', 'ms', first, {
        baseline: { name: 'patch path: set-image on an existing workload + ready', samples: patchPath },
        note: `last run: ${detail}; API writes per first deploy: ${firstWrites.join(', ')}`,
      }),
      figure(s, '`down` (delete and wait until gone)', 'ms', downMs),
      figure(s, 'no-op save with manifests: save → done, beyond compile', 'ms', noop.beyond, {
        baseline: { name: 'the same save on the patch path (deploy.workload: delivery skipped outright)', samples: patchNoop },
        target: { on: 'p95', limit: 20, text: 'p95 ≤ 20 ms' },
        note: `median per stage: ${Object.entries(noop.stages).map(([k, v]) => `${k} ${median(v).toFixed(1)} ms`).join(', ')}`,
      }),
      figure(s, 'no-op save with manifests: Kubernetes API writes', 'writes', noop.writes, { target: { on: 'max', limit: 0, text: 'zero writes' } }),
      figure(s, 'no-op apply decision (deploy stage), the example: 2 objects', 'ms', noop.decision, {
        baseline: { name: decisionBaseline, samples: fullDecision },
        target: { on: 'p95', limit: 20, text: 'p95 ≤ 20 ms' },
      }),
      figure(s, `no-op apply decision (deploy stage), a large stack: ${stack.objects + 2} objects, ${Math.round(stack.text.length / 1024)} KiB of YAML`, 'ms', large.decision, {
        baseline: { name: decisionBaseline, samples: fullLarge },
        target: { on: 'p95', limit: 20, text: 'p95 ≤ 20 ms' },
        note: `save → done beyond compile: median ${median(large.beyond).toFixed(1)} ms; API writes: ${Math.max(...large.writes)} at most`,
      }),
    ],
    raw: { reps, first, firstWrites, downMs, patchPath, patchNoop, noop, large, fullDecision, fullLarge },
  };
}

/** The example with its manifest naming the bench's repository (makeFixture does that), so the pushed digest is injected. */
async function manifestFixture(ctx: BenchContext, name: string, repository: string): Promise<Fixture> {
  return makeFixture(ctx.tmpRoot, { name, repository, registry: ctx.registry, kube: ctx.kube! });
}

async function noopSaves(engine: Engine, fx: Fixture, writes: () => number, count: number) {
  const out = { beyond: [] as number[], writes: [] as number[], decision: [] as number[], stages: {} as Record<string, number[]> };
  const [initial] = await engine.run();
  if (initial?.status !== 'ok') throw new Error(`deploy failed: ${initial?.error}`);
  await engine.startWatching();
  const source = await readFile(fx.source, 'utf8');
  for (let i = 0; i < count; i++) {
    const w0 = writes();
    const saved = await saveAndWait(engine, fx, source);
    const deploy = saved.summary.records.find((r) => r.stage === 'deploy');
    if (deploy?.status !== 'skipped') throw new Error(`a no-op save applied: deploy ${deploy?.status} (${deploy?.detail})`);
    out.beyond.push((saved.finishedAt.ready ?? saved.runFinishedAt) - saved.savedAt - stageMs(saved.summary, 'compile'));
    out.writes.push(writes() - w0);
    out.decision.push(deploy.durationMs);
    for (const r of saved.summary.records) (out.stages[`${r.stage} ${r.status}`] ??= []).push(r.durationMs);
  }
  await engine.stopWatching();
  return out;
}

/** What a no-op decision used to do: read and parse every manifest, inject, label and hash them. */
async function fullDecisionTimes(fx: Fixture, count: number): Promise<number[]> {
  const c = await loadConfig(fx.configFile);
  const service = c.services.hello!;
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const texts = await readManifestTexts(c, service.deploy!.manifests!, new AbortController().signal, () => {});
    prepareObjects(parseManifestTexts(texts), {
      service: service.name,
      project: projectId(c),
      defaultNamespace: service.deploy!.namespace,
      image: { repository: service.image!.repository, ref: `${service.image!.repository}@sha256:${'0'.repeat(64)}` },
      imageFields: [],
    });
    times.push(performance.now() - t0);
  }
  return times;
}

/** ConfigMaps with sizeable data and Services: the bulk of a chart's YAML, without extra pods. */
function largeStack(n: number): { text: string; objects: number } {
  const docs: string[] = [];
  const line = 'observability: scrape every pod labelled app.kubernetes.io/part-of=shop on port metrics';
  for (let i = 0; i < n; i++) {
    const data = Array.from({ length: 80 }, (_, j) => `    rule-${j}: "${line} ${i}-${j}"`).join('\n');
    docs.push(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stack-config-${i}\n  labels: { app: stack, part: "${i}" }\ndata:\n${data}\n`);
    docs.push(`apiVersion: v1\nkind: Service\nmetadata:\n  name: stack-${i}\nspec:\n  selector: { app: stack-${i} }\n  ports: [{ port: 9090, targetPort: 9090 }]\n`);
  }
  return { text: docs.join('---\n'), objects: docs.length };
}
