import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Engine, type EngineEvent, type RunSummary } from '../../src/engine/index.js';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { createKubeStages } from '../../src/engine/kube/index.js';
import { isPodReady } from '../../src/engine/kube/rollout.js';
import { agentBinary, get, serverBinary } from '../../test/agent/helpers.js';
import { LocalAgentContainer } from '../../test/fake-kube/agent-pods.js';
import { freePort } from '../../test/helpers/net.js';
import { E2E_REGISTRY, LIVE_PORT, liveConfig, liveManifest, liveStages, localClusterAdmin, podGet } from '../../test/kube-real/live-helpers.js';
import type { BenchContext } from '../lib/context.js';
import { figure, type SuiteOutput } from '../lib/result.js';
import { epochNow, sleep, summarize } from '../lib/stats.js';

/**
 * Live update vs rollout (issue 13), one service, one engine, one run: every save changes the
 * server binary (a static HTTP server printing its version). Live saves touch only it (covered by
 * live.sync: compile → stage → live); rollout saves also change a staged file live.sync does not
 * cover, so the same engine takes the full path (image, push, set-image, ready) and says why.
 * Saves alternate live, rollout, live, …; each is measured from the save to every pod serving the
 * new version.
 *
 * Fake cluster (default): pods are real agent processes reached over the fake API server's exec
 * websocket, so "serving" for live is checked from outside: once the run ends, HTTP GETs until every
 * pod answers with the new version (the agent answers only once the new process listens). The fake
 * runs no containers, so "serving" for a rollout is the ready stage's end: every new pod Ready, on
 * the fake's REAL_TIMING (container start ~0.4 s, then the readiness probe — every 1 s, as in the
 * issue's measurement — on the kubelet's grid; old pods linger 3 s, as a real kubelet's do).
 *
 * Real cluster (TIGHTLOOP_E2E_KUBECONFIG): the setup of test/kube-real/live.test.ts — a FROM scratch
 * live-mode image of the same server built by the engine, pushed to TIGHTLOOP_E2E_REGISTRY,
 * deployed from manifests (2 replicas, readiness probe every 1 s) into a fresh namespace deleted
 * afterwards. Serving is the end of the live or ready stage, checked after each run by a GET to
 * every ready pod through the API server's port-forward (not timed); a pod not serving the new
 * version yet is polled, and the time it takes counts.
 */
export async function live(ctx: BenchContext): Promise<SuiteOutput> {
  const reps = Number(process.env.TIGHTLOOP_BENCH_LIVE_REPS) || ctx.reps(15, 3);
  const dir = path.join(ctx.tmpRoot, 'live');
  await mkdir(path.join(dir, 'src'), { recursive: true });
  let version = 'v0';
  const save = async (settings: boolean) => {
    version = `v${Number(version.slice(1)) + 1}`;
    await writeFile(path.join(dir, 'src/server'), await serverBinary(version), { mode: 0o755 });
    if (settings) await writeFile(path.join(dir, 'src/settings.txt'), `${version}\n`);
    return [path.join(dir, 'src/server'), ...(settings ? [path.join(dir, 'src/settings.txt')] : [])];
  };
  await save(true);
  const cluster = ctx.kube?.kind === 'real' ? await realCluster(ctx, dir) : await fakeCluster(ctx, dir, () => version);
  try {
    const engine = await Engine.create(path.join(dir, 'tightloop.yaml'), { stages: cluster.stages });
    try {
      return await measure(engine, cluster, reps, save, () => version);
    } finally {
      await engine.dispose();
    }
  } finally {
    await cluster.dispose();
  }
}

/** Where the service runs and how the bench sees what its pods serve. */
interface LiveCluster {
  stages: NonNullable<Parameters<typeof Engine.create>[1]>['stages'];
  /** After the initial delivery (full path). */
  delivered(image: string | undefined): Promise<void>;
  /**
   * When every pod served `want`, given when the run's live or ready stage ended (`endedAt`,
   * epoch ms); called right after the run.
   */
  servedAt(path: 'live' | 'rollout', want: string, endedAt: number, summary: RunSummary): Promise<number>;
  /** The figure's note: the cluster, and how serving is observed. */
  note: string;
  dispose(): Promise<void>;
}

/** The fake API server in this process; pods are local agent processes (test/fake-kube/agent-pods.ts). */
async function fakeCluster(ctx: BenchContext, dir: string, version: () => string): Promise<LiveCluster> {
  const { FakeKubeServer } = await import('../../test/fake-kube/server.js');
  const { REAL_TIMING } = await import('../../test/fake-kube/cluster.js');
  const fake = await FakeKubeServer.start({});
  fake.cluster.timing = { ...REAL_TIMING };
  const agent = await agentBinary();
  const containers = new Map<string, { c: LocalAgentContainer; port: number }>();
  const imageServer = new Map<string, Buffer>();
  fake.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'api', namespace: 'default', labels: { app: 'api' } },
    spec: { replicas: 2, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'registry.local/api:v0', readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 } }] } } },
  } as Parameters<typeof fake.create>[0]);
  await writeFile(
    path.join(dir, 'tightloop.yaml'),
    `version: 1
kubernetes: { kubeconfig: ${fake.kubeconfigPath} }
docker: { delivery: push, registry: ${ctx.registry} }
services:
  api:
    watch: { paths: [src] }
    compile: { command: "mkdir -p out && cp src/server out/server && cp src/settings.txt out/settings.txt" }
    stage: { dir: staged, files: [{ from: out/server, to: server }, { from: out/settings.txt, to: settings.txt }] }
    image: { repository: ${ctx.repoPrefix}/live }
    deploy: { workload: deployment/api, readyTimeout: 30s }
    live: { sync: [{ from: server, to: /server }], action: restart }
`,
  );
  const pods = () => fake.cluster.store.list('pods', 'default').filter((p) => !p.metadata.deletionTimestamp && p.metadata.labels?.app === 'api');
  /** Pods of a rollout get their process, replaced pods lose theirs (the harness's part, outside any measurement). */
  const backPods = async (image: string | undefined) => {
    if (image) imageServer.set(image, await serverBinary(version()));
    const listed = new Set(fake.cluster.store.list('pods', 'default').map((p) => p.metadata.name));
    for (const [name, { c }] of containers) {
      if (listed.has(name)) continue;
      containers.delete(name);
      fake.exec.backends.delete(`default/${name}`);
      await c.stop();
    }
    for (const pod of pods()) {
      if (containers.has(pod.metadata.name)) continue;
      const port = await freePort();
      const content = imageServer.get(pod.spec.containers[0].image) ?? (await serverBinary('v0'));
      const c = await LocalAgentContainer.start(agent, { files: [{ path: '/server', content, mode: 0o755 }], command: ['/server', String(port)], targets: ['/server'] });
      containers.set(pod.metadata.name, { c, port });
      fake.exec.backends.set(`default/${pod.metadata.name}`, c.exec);
    }
  };
  const serving = async (want: string) => {
    for (const pod of pods()) {
      const port = containers.get(pod.metadata.name)?.port;
      if (!port || !(await get(port, '/').then((r) => r.body.startsWith(`${want} `), () => false))) return false;
    }
    return true;
  };
  return {
    stages: (c) => {
      const kube = createKubeStages(c, { env: {}, homeDir: tmpdir() });
      const docker = createDockerStages(c, { cluster: kube.cluster });
      return { ...kube, image: docker.image, push: docker.push, dispose: async () => void (await Promise.all([kube.dispose(), docker.dispose()])) };
    },
    delivered: backPods,
    async servedAt(kind, want, endedAt, summary) {
      if (kind === 'rollout') {
        await backPods(summary.image);
        return endedAt;
      }
      for (;;) {
        if (await serving(want)) return epochNow();
        await sleep(1);
      }
    },
    note: "2 replicas, fake cluster (pods are real agent processes over the exec websocket; rollout pods become Ready on the fake's REAL_TIMING: container start ~0.4 s, readiness probe every 1 s on the kubelet's grid)",
    async dispose() {
      for (const { c } of containers.values()) await c.stop();
      await fake.close();
    },
  };
}

/**
 * The cluster TIGHTLOOP_E2E_KUBECONFIG names: a fresh namespace (deleted afterwards) and the
 * Deployment of test/kube-real/live.test.ts, deployed by the engine from manifests.
 */
async function realCluster(ctx: BenchContext, dir: string): Promise<LiveCluster> {
  const kube = ctx.kube!;
  const { admin, context } = localClusterAdmin(kube.kubeconfig);
  // The engine adds the agent to the live-mode image: build it for this machine if needed.
  await agentBinary();
  const namespace = `tl-bench-live-${ctx.id}`;
  // Under the run's prefix when the registry is the bench's, so the bench's cleanup removes it.
  const repository = `${E2E_REGISTRY}/tl-bench-${ctx.id}/live`;
  await admin.core.createNamespace({ body: { metadata: { name: namespace, labels: { 'app.kubernetes.io/created-by': 'tightloop-bench' } } } });
  ctx.log(`live: namespace ${namespace} on context ${context}, images in ${repository}`);
  await mkdir(path.join(dir, 'k8s'), { recursive: true });
  await writeFile(path.join(dir, 'k8s/api.yaml'), liveManifest(repository));
  await writeFile(path.join(dir, 'tightloop.yaml'), liveConfig({ kubeconfig: kube.kubeconfig, context, namespace, repository, watch: true }));
  const readyPods = async () => (await admin.core.listNamespacedPod({ namespace, labelSelector: 'app=api' })).items.filter((p) => !p.metadata?.deletionTimestamp && isPodReady(p));
  /** What every ready pod serves (its first word: the version), read through the port-forward. */
  const versions = async () => Promise.all((await readyPods()).map(async (p) => (await podGet(admin.loaded.kc, namespace, p.metadata!.name!, LIVE_PORT, '/')).split(' ')[0]));
  const allServe = async (want: string) => {
    const seen = await versions().catch(() => []);
    return seen.length === 2 && seen.every((v) => v === want);
  };
  let late = 0;
  return {
    stages: liveStages,
    async delivered() {
      const deadline = Date.now() + 120_000;
      while (!(await allServe('v1'))) {
        if (Date.now() > deadline) throw new Error(`after the first delivery, the ready pods serve ${JSON.stringify(await versions().catch((e: Error) => e.message))}, not v1`);
        await sleep(100);
      }
    },
    async servedAt(_kind, want, endedAt) {
      if (await allServe(want)) return endedAt;
      late++;
      const deadline = Date.now() + 120_000;
      for (;;) {
        await sleep(50);
        if (await allServe(want)) return epochNow();
        if (Date.now() > deadline) throw new Error(`2 minutes after the run, the ready pods serve ${JSON.stringify(await versions().catch((e: Error) => e.message))}, not ${want}`);
      }
    },
    get note() {
      return `2 replicas, ${kube.label ?? 'real cluster'} (${context}; FROM scratch live-mode image from ${E2E_REGISTRY}, readiness probe every 1 s); serving = the live or ready stage's end, checked by a GET to every ready pod through the port-forward${late ? ` (${late} run(s) ended before every pod served the new version: timed until they did)` : ''}`;
    },
    async dispose() {
      await admin.core.deleteNamespace({ name: namespace }).catch((e: Error) => ctx.log(`live: deleting namespace ${namespace}: ${e.message}`));
    },
  };
}

/** Alternates live and rollout saves in one engine; the figures with their targets. */
async function measure(engine: Engine, cluster: LiveCluster, reps: number, save: (settings: boolean) => Promise<string[]>, version: () => string): Promise<SuiteOutput> {
  // The live stage's log of the last run, with ms since the stage started: where its time goes.
  let liveLog: string[] = [];
  let lastLiveLog: string[] = [];
  const stageStart = new Map<string, number>();

  /** Save, then wait for the run and for every pod to serve the new version. */
  const once = async (settings: boolean) => {
    const files = await save(settings);
    const want = version();
    let summary: RunSummary | undefined;
    let readyAt: number | undefined;
    let runStartedAt = NaN;
    let runFinishedAt = NaN;
    const off = engine.on((e: EngineEvent) => {
      if (e.type === 'run-started') {
        liveLog = [];
        runStartedAt = epochNow();
      }
      if (e.type === 'stage-started') stageStart.set(e.stage, e.startedAt);
      if (e.type === 'log' && e.line.stage === 'live') liveLog.push(`+${e.line.time - (stageStart.get('live') ?? e.line.time)} ms ${e.line.text}`);
      if (e.type === 'stage-finished' && (e.record.stage === 'ready' || e.record.stage === 'live') && e.record.status === 'ok') readyAt = epochNow();
      if (e.type === 'run-finished') {
        summary = e.summary;
        runFinishedAt = epochNow();
      }
    });
    const savedAt = epochNow();
    engine.notifySaved(files);
    // No polling while the run works: on 2 loaded cores it would slow the very sync it measures.
    while (!summary) await sleep(1);
    off();
    if (summary.status !== 'ok') throw new Error(`live bench run failed: ${summary.error}`);
    const liveRecord = summary.records.find((r) => r.stage === 'live');
    if (!settings) {
      if (liveRecord?.status !== 'ok') throw new Error(`a covered save did not go live: ${liveRecord?.detail}`);
      lastLiveLog = liveLog;
    } else if (liveRecord?.status !== 'skipped') throw new Error('an uncovered save went live');
    const servedAt = await cluster.servedAt(settings ? 'rollout' : 'live', want, readyAt ?? runFinishedAt, summary);
    const compile = summary.records.find((r) => r.stage === 'compile')?.durationMs ?? NaN;
    const liveMs = liveRecord.durationMs;
    const stageMs = (name: string) => summary!.records.find((r) => r.stage === name)?.durationMs ?? 0;
    // Where a live save's time goes: save → run start, the stages, the run's end → every pod answered.
    const steps = {
      trigger: runStartedAt - savedAt,
      compile,
      stage: stageMs('stage'),
      live: liveMs,
      engineRest: runFinishedAt - runStartedAt - compile - stageMs('stage') - liveMs,
      probe: servedAt - runFinishedAt,
    };
    return { total: servedAt - savedAt, compile, liveMs, steps };
  };

  const rows = { live: [] as number[], liveBeyondCompile: [] as number[], liveStage: [] as number[], rollout: [] as number[] };
  const steps: Record<string, number[]> = {};
  const [first] = await engine.run(['api']);
  if (first?.status !== 'ok') throw new Error(`initial delivery failed: ${first?.error}`);
  await cluster.delivered(first.image);
  for (let i = -1; i < reps; i++) {
    const l = await once(false);
    const r = await once(true);
    if (i < 0) continue; // warm-up
    rows.live.push(l.total);
    rows.liveBeyondCompile.push(l.total - l.compile);
    rows.liveStage.push(l.liveMs);
    for (const [k, v] of Object.entries(l.steps)) (steps[k] ??= []).push(v);
    rows.rollout.push(r.total);
  }
  const s = 'live';
  const median = (xs: number[]) => Math.round(summarize(xs).median);
  return {
    figures: [
      figure(s, 'save → new code serving, live update', 'ms', rows.live, {
        baseline: { name: 'same save, full image + rollout', samples: rows.rollout },
        target: { on: 'ratio', limit: 0.3, text: 'live ≤ 0.3× rollout' },
        note: `${cluster.note}. Live stage alone: median ${median(rows.liveStage)} ms. A live save's medians: ${Object.entries(steps)
          .map(([k, v]) => `${k} ${median(v)} ms`)
          .join(', ')}.`,
      }),
      figure(s, 'live: save → serving minus compile', 'ms', rows.liveBeyondCompile, { target: { on: 'median', limit: 150, text: 'live ≤ compile + 150 ms' } }),
      figure(s, 'save → ready, full image + rollout', 'ms', rows.rollout),
    ],
    raw: { reps, rows, steps, lastLiveStageLog: lastLiveLog },
  };
}
