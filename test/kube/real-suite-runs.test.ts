import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DockerPodRuntime } from '../fake-kube/docker-pods.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { ensureServices, REGISTRY } from '../docker/helpers.js';

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
