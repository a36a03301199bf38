import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DockerPodRuntime } from '../fake-kube/docker-pods.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { ensureServices, REGISTRY } from '../docker/helpers.js';
import type { BenchContext } from '../../bench/lib/context.js';
import { cleanupImages } from '../../bench/lib/docker.js';
import { cleanupRegistry } from '../../bench/lib/registry.js';

/**
 * Runs a test/kube-real file as a user would (TIGHTLOOP_E2E_KUBECONFIG set, node --test) against
 * `fake`; fails with its whole output unless every scenario ran and passed.
 */
async function runRealSuite(fake: FakeKubeServer, file: string, passes: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, TIGHTLOOP_E2E_KUBECONFIG: fake.kubeconfigPath, ...extraEnv };
  // Its own context and image defaults (the fake's context, kind-fake, passes the local-cluster check as
  // kind's would); NODE_TEST_CONTEXT would make the child think it runs inside this test runner.
  for (const name of ['TIGHTLOOP_E2E_CONTEXT', 'TIGHTLOOP_E2E_IMAGE', 'TIGHTLOOP_E2E_ALLOW_ANY_CONTEXT', 'NODE_TEST_CONTEXT']) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-force-exit', '--test-reporter=tap', file], { cwd: ROOT, env });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
  assert.match(out, new RegExp(`^# pass ${passes}$`, 'm'), out);
  assert.match(out, /^# skipped 0$/m, out);
}

/**
 * The opt-in real-cluster suite for manifests (test/kube-real/manifests.test.ts) only runs where a
 * cluster is configured, so nothing else would notice it rotting. Here it runs as a user would run
 * it (docs/real-cluster-tests.md: TIGHTLOOP_E2E_KUBECONFIG set, node --test), with the fake API
 * server standing in for the cluster: every scenario must run and pass, none be skipped.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('test/kube-real/manifests.test.ts stays runnable', () => {
  let fake: FakeKubeServer | undefined;
  after(() => fake?.close());

  it('runs every scenario against a cluster given by TIGHTLOOP_E2E_KUBECONFIG', async () => {
    fake = await FakeKubeServer.start();
    await runRealSuite(fake, 'test/kube-real/manifests.test.ts', 4);
  });
});

/**
 * The same for the live-update file (test/kube-real/live.test.ts). The fake's pods run for real
 * here: each pod's container is the pushed image on the Docker engine (DockerPodRuntime: its own
 * network namespace, exec = docker exec, port-forward into the namespace), and ServiceAccount
 * tokens and Roles are enforced (test/fake-kube/rbac.ts), so the suite checks what the pods
 * actually serve and what RBAC actually refuses.
 */
describe('test/kube-real/live.test.ts stays runnable', () => {
  let fake: FakeKubeServer | undefined;
  let runtime: DockerPodRuntime | undefined;
  after(async () => {
    await runtime?.close();
    await fake?.close();
  });

  it('runs every scenario against a cluster given by TIGHTLOOP_E2E_KUBECONFIG, pods running their images', async () => {
    await ensureServices();
    fake = await FakeKubeServer.start();
    runtime = new DockerPodRuntime(fake.exec);
    fake.cluster.runtime = runtime;
    await runRealSuite(fake, 'test/kube-real/live.test.ts', 5, { TIGHTLOOP_E2E_REGISTRY: REGISTRY });
  });
});

/**
 * The live bench's real-cluster path (bench/suites/live.ts with TIGHTLOOP_E2E_KUBECONFIG) only runs
 * where a cluster is configured; here it runs against the fake with pods running their images on
 * Docker, one live and one rollout save after the warm-up pair: every save must take its path and
 * be seen served by every pod (the suite throws otherwise), and the namespace it made is gone.
 * Figures are not checked (no timing in tests); `npm run bench` reports them.
 */
describe('bench/suites/live.ts real-cluster path stays runnable', () => {
  let fake: FakeKubeServer | undefined;
  let runtime: DockerPodRuntime | undefined;
  let ctx: BenchContext | undefined;
  after(async () => {
    await runtime?.close();
    await fake?.close();
    if (ctx) {
      await cleanupImages(`${REGISTRY}/tl-bench-${ctx.id}`, () => {});
      await cleanupRegistry(REGISTRY, `tl-bench-${ctx.id}`, () => {});
      await rm(ctx.tmpRoot, { recursive: true, force: true });
    }
  });

  it('measures live and rollout saves on a cluster given by its kubeconfig, then deletes its namespace', async () => {
    await ensureServices();
    fake = await FakeKubeServer.start();
    runtime = new DockerPodRuntime(fake.exec);
    fake.cluster.runtime = runtime;
    const id = `test-${Date.now().toString(36)}`;
    ctx = {
      quick: true,
      long: false,
      tmpRoot: await mkdtemp(path.join(tmpdir(), 'tl-bench-live-test-')),
      id,
      registry: REGISTRY,
      repoPrefix: `${REGISTRY}/tl-bench-${id}`,
      docker: true,
      integrations: { docker: true, kube: true },
      kube: { kind: 'real', label: 'fake', kubeconfig: fake.kubeconfigPath, context: 'kind-fake', namespace: 'default', apply: async () => {}, writes: () => NaN, dispose: async () => {} },
      log: () => {},
      reps: () => 1,
    };
    const { live } = await import('../../bench/suites/live.js');
    const namespaces = () => fake!.cluster.store.list('namespaces').map((n) => n.metadata.name);
    const out = await live(ctx);
    assert.deepEqual(
      out.figures.map((f) => [f.name, f.samples.length, f.samples.every(Number.isFinite)]),
      [
        ['save → new code serving, live update', 1, true],
        ['live: save → serving minus compile', 1, true],
        ['save → ready, full image + rollout', 1, true],
      ],
    );
    assert.match(out.figures[0]!.note!, /^2 replicas, fake \(kind-fake; FROM scratch live-mode image/);
    assert.ok(!namespaces().some((n) => n.startsWith('tl-bench-live-')), `namespaces left: ${namespaces().join(', ')}`);
  });
});
