import { tmpdir } from 'node:os';
import type { ResolvedConfig, ResolvedService } from '../../src/engine/config/resolved.js';
import type { EngineOptions } from '../../src/engine/engine.js';
import { createKubeStages, type KubeStages, type KubeStagesOptions } from '../../src/engine/kube/index.js';
import type { RunOutputs, StageContext, StageResult } from '../../src/engine/stages/stage.js';
import type { LogLine, LogStream } from '../../src/engine/types.js';
import { FakeKubeServer, type FakeKubeOptions } from '../fake-kube/server.js';
import type { KObj } from '../fake-kube/store.js';

/** Shared scaffolding for the kube tests: a fake cluster, a config pointing at it, stage contexts. */

export const DEFAULT_ALLOW = ['kind-*', 'k3d-*', 'minikube', 'docker-desktop', 'rancher-desktop', 'orbstack', 'colima*', 'microk8s'];

type Deploy = NonNullable<ResolvedService['deploy']>;

export function makeConfig(kubeconfig: string, deploy: Partial<Deploy> = {}, k8s: Partial<ResolvedConfig['kubernetes']> = {}): ResolvedConfig {
  const service: ResolvedService = {
    name: 'api',
    kind: 'service',
    trigger: 'auto',
    onChange: 'restart',
    dependsOn: [],
    deploy: {
      workload: 'deployment/api',
      namespace: 'default',
      strategy: 'set-image',
      readyTimeoutMs: 5000,
      portForwards: [],
      streamLogs: false,
      ...deploy,
    },
  };
  return {
    file: `${tmpdir()}/tightloop.yaml`,
    root: tmpdir(),
    version: 1,
    kubernetes: { kubeconfig, allowContexts: DEFAULT_ALLOW, namespace: 'default', ...k8s },
    docker: { delivery: 'auto' },
    settings: { quietWindowMs: 30, parallelism: 1, historyLimit: 100 },
    services: { api: service },
    tasks: {},
  };
}

export interface TestContext extends StageContext {
  lines: { text: string; stream: LogStream }[];
}

let runCounter = 0;
export function makeCtx(config: ResolvedConfig, outputs: Partial<RunOutputs> = {}, signal = new AbortController().signal): TestContext {
  const lines: TestContext['lines'] = [];
  return {
    config,
    service: config.services.api!,
    runId: `run-${++runCounter}`,
    signal,
    outputs: { ...outputs },
    handoffs: {},
    trigger: { reason: 'manual', changedFiles: [] },
    lastSuccess: undefined,
    cluster: undefined,
    log: (text, stream = 'info') => void lines.push({ text, stream }),
    diagnostics: () => {},
    lines,
  };
}

/** deploy then ready, as the engine runs them (outputs and hand-offs merged forward). */
export async function deployAndReady(stages: KubeStages, ctx: TestContext): Promise<{ deploy: StageResult; ready: StageResult }> {
  const deploy = await stages.deploy!.run(ctx);
  Object.assign(ctx.outputs, deploy.outputs);
  Object.assign(ctx.handoffs, deploy.handoffs);
  const ready = await stages.ready!.run(ctx);
  Object.assign(ctx.outputs, ready.outputs);
  return { deploy, ready };
}

export function deployment(opts: { name?: string; replicas?: number; image?: string; containers?: object[]; probe?: boolean; progressDeadlineSeconds?: number; labels?: Record<string, string> } = {}) {
  const name = opts.name ?? 'api';
  const containers = opts.containers ?? [
    {
      name,
      image: opts.image ?? `registry.local/${name}:v1`,
      ports: [{ containerPort: 8080 }],
      ...(opts.probe && { readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 2 } }),
    },
  ];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default', labels: { app: name, ...opts.labels } },
    spec: {
      replicas: opts.replicas ?? 1,
      ...(opts.progressDeadlineSeconds && { progressDeadlineSeconds: opts.progressDeadlineSeconds }),
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers } },
    },
  };
}

export function statefulSet(name = 'db', replicas = 2) {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: `registry.local/${name}:v1`, ports: [{ containerPort: 5432 }] }] } },
      updateStrategy: { type: 'RollingUpdate' },
    },
  };
}

export function daemonSet(name = 'agent') {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: `registry.local/${name}:v1` }] } },
    },
  };
}

/** Start a fake cluster with workloads and wait until their first pods are Ready. */
export async function startCluster(workloads: object[] = [deployment()], opts: FakeKubeOptions = {}): Promise<FakeKubeServer> {
  const fake = await FakeKubeServer.start(opts);
  for (const w of workloads) fake.create(w as KObj);
  await waitFor(() => workloads.every((w) => settled(fake, w as KObj)), 5000, 'initial pods to become ready');
  fake.requests.length = 0;
  return fake;
}

function settled(fake: FakeKubeServer, w: KObj): boolean {
  const resource = `${w.kind.toLowerCase()}s` as 'deployments';
  const obj = fake.cluster.get(resource, 'default', w.metadata.name);
  const s = obj?.status;
  if (!s) return false;
  if (w.kind === 'DaemonSet') return s.numberReady === s.desiredNumberScheduled && s.desiredNumberScheduled > 0;
  return s.readyReplicas === (w.spec.replicas ?? 1);
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function stagesFor(config: ResolvedConfig, opts: KubeStagesOptions = {}): KubeStages {
  return createKubeStages(config, { env: {}, homeDir: tmpdir(), watchRetry: { attempts: 3, baseDelayMs: 50 }, ...opts });
}

export function podLines(lines: LogLine[]): string[] {
  return lines.filter((l) => l.stage === 'pod').map((l) => l.text);
}

/**
 * Engine stages for the manifests tests: the real Kubernetes stages, and stand-ins for image and
 * push (the Kubernetes side is under test) that hand on `pushed.ref` (repo@digest) as it is when
 * push runs, so a test can change what the next run "pushed".
 */
export function kubeWithPushed(pushed: { ref: string }, imageRef: string): NonNullable<EngineOptions['stages']> {
  return (c, hooks) => {
    const kube = createKubeStages(c, { env: {}, homeDir: tmpdir(), logSink: hooks.log, watchRetry: { attempts: 3, baseDelayMs: 50 } });
    const push = { name: 'push' as const, run: async () => ({ outputs: { deployRef: pushed.ref, digest: pushed.ref.split('@')[1]! } satisfies Partial<RunOutputs> }) };
    const image = { name: 'image' as const, run: async () => ({ outputs: { imageRef } }) };
    return { ...kube, image, push, dispose: kube.dispose };
  };
}
