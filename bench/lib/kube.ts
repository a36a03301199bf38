import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { BenchContext, KubeHandle } from './context.js';
import { REPO_ROOT } from './fixture.js';
import { epochNow } from './stats.js';

const FAKE_SERVER = path.join(REPO_ROOT, 'test/fake-kube/server.ts');
const FAKE_CONTEXT = 'tl-bench-fake';

interface Rollout {
  writeAt: number;
  readyAt?: number;
  pods: Set<string>;
}

/**
 * The cluster the deploy suites talk to: a real one when TIGHTLOOP_E2E_KUBECONFIG is set, else
 * the fake API server (test/fake-kube) in this process. The fake's store tells us exactly when a
 * workload write landed and when the pod it caused became Ready — the "cluster time" subtracted
 * from save→ready to get Tightloop's own overhead.
 */
export async function startCluster(ctx: BenchContext): Promise<KubeHandle | undefined> {
  const real = process.env.TIGHTLOOP_E2E_KUBECONFIG;
  if (real) return realCluster(real);
  if (!existsSync(FAKE_SERVER)) return undefined;
  const { FakeKubeServer } = await import('../../test/fake-kube/server.js');
  const server = await FakeKubeServer.start({ contexts: [FAKE_CONTEXT] });
  ctx.log(`fake Kubernetes API server at ${server.url}`);

  const rollouts: Rollout[] = [];
  let lastGeneration = 1;
  server.cluster.store.on('change', (change) => {
    const at = epochNow();
    const obj = change.object;
    if (change.resource === 'deployments' && change.type === 'MODIFIED') {
      // A spec change bumps generation; status-only updates from the controller do not.
      const generation = obj.metadata.generation ?? 0;
      if (generation > lastGeneration) {
        lastGeneration = generation;
        rollouts.push({ writeAt: at, pods: new Set() });
      }
    }
    if (change.resource === 'pods') {
      const current = rollouts.at(-1);
      if (!current) return;
      if (change.type === 'ADDED') current.pods.add(obj.metadata.uid);
      const ready = (obj.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
      if (ready && current.readyAt === undefined && current.pods.has(obj.metadata.uid)) current.readyAt = at;
    }
  });

  return {
    kind: 'fake',
    api: { url: server.url, token: server.token },
    kubeconfig: server.kubeconfigPath,
    context: FAKE_CONTEXT,
    namespace: 'default',
    async apply(manifestFile) {
      for (const doc of parseAllDocuments(await readFile(manifestFile, 'utf8'))) {
        const obj = doc.toJS() as { kind: string; metadata: { name: string } };
        // The fake serves workloads, pods and a few core kinds; a Service is irrelevant here.
        if (!['Deployment', 'StatefulSet', 'DaemonSet', 'ConfigMap'].includes(obj.kind)) continue;
        const existing = server.cluster.store.list(`${obj.kind.toLowerCase()}s` as 'deployments').find((o) => o.metadata.name === obj.metadata.name);
        if (!existing) server.create(obj as Parameters<typeof server.create>[0]);
      }
    },
    writes: () => server.writes().length,
    rolloutTimes(since) {
      const r = [...rollouts].reverse().find((x) => x.writeAt >= since);
      return r && r.readyAt !== undefined ? { writeAt: r.writeAt, readyAt: r.readyAt } : undefined;
    },
    dispose: () => server.close(),
  };
}

/** A real cluster: used as is; the workload must already exist (scripts/e2e-setup.sh). */
async function realCluster(kubeconfig: string): Promise<KubeHandle> {
  const text = await readFile(kubeconfig, 'utf8');
  const context = /current-context:\s*(\S+)/.exec(text)?.[1] ?? 'default';
  return {
    kind: 'real',
    label: process.env.TIGHTLOOP_BENCH_CLUSTER_LABEL ?? 'real cluster',
    kubeconfig,
    context,
    namespace: process.env.TIGHTLOOP_E2E_NAMESPACE ?? 'default',
    async apply(manifestFile) {
      const { execa } = await import('execa');
      await execa('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', manifestFile]);
    },
    writes: () => NaN,
    dispose: async () => {},
  };
}
