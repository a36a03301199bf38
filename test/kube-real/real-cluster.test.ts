import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { PatchStrategy, setHeaderOptions, type V1Deployment, type V1Service } from '@kubernetes/client-node';
import { KubeClient } from '../../src/engine/kube/client.js';
import { contextAllowed, loadKubeConfig } from '../../src/engine/kube/index.js';
import { isPodReady, type Baseline } from '../../src/engine/kube/rollout.js';
import { waitForRollout } from '../../src/engine/kube/wait-ready.js';
import { StageError } from '../../src/engine/stages/stage.js';
import type { LogLine } from '../../src/engine/types.js';
import { DEFAULT_ALLOW, deployAndReady, makeConfig, makeCtx, stagesFor, waitFor } from '../kube/helpers.js';

/**
 * The kube scenarios against a real cluster (kind, k3d, minikube…), opt-in:
 *   TIGHTLOOP_E2E_KUBECONFIG=~/.kube/config TIGHTLOOP_E2E_IMAGE=hello:e2e node --import tsx --test test/kube-real/*.test.ts
 * Everything happens in a fresh namespace, deleted afterwards. See docs/real-cluster-tests.md.
 * Not covered here (covered by the fake-cluster suite only): OOMKilled and "exec format error" —
 * the example image is a static binary FROM scratch that cannot be made to do either on demand.
 */

const KUBECONFIG = process.env.TIGHTLOOP_E2E_KUBECONFIG;
const skip = KUBECONFIG ? false : 'TIGHTLOOP_E2E_KUBECONFIG is not set (see docs/real-cluster-tests.md)';
if (skip) console.log(`real-cluster suite skipped: ${skip}`);

const here = path.dirname(fileURLToPath(import.meta.url));
/** The example service's manifests: every YAML file in its k8s folder (a Deployment `hello` and a Service). */
const MANIFESTS = path.join(here, '../../examples/hello-service/k8s');
const BAD_IMAGE = 'registry.invalid/tightloop/does-not-exist:1';

describe('real cluster (opt-in)', { skip, timeout: 15 * 60_000 }, () => {
  const namespace = `tightloop-e2e-${Date.now().toString(36)}`;
  let client: KubeClient;
  let context: string;
  let image: string;
  let original: V1Deployment;

  const config = (deploy: Parameters<typeof makeConfig>[1] = {}, k8s: Parameters<typeof makeConfig>[2] = {}) =>
    makeConfig(
      KUBECONFIG!,
      { workload: 'deployment/hello', container: 'hello', namespace, readyTimeoutMs: 120_000, ...deploy },
      { allowContexts: [context], ...(process.env.TIGHTLOOP_E2E_CONTEXT && { context: process.env.TIGHTLOOP_E2E_CONTEXT }), ...k8s },
    );

  before(async () => {
    const loaded = loadKubeConfig({ kubeconfig: KUBECONFIG, context: process.env.TIGHTLOOP_E2E_CONTEXT, allowContexts: [], namespace: 'default' }, process.cwd());
    context = loaded.context;
    if (!contextAllowed(context, DEFAULT_ALLOW) && process.env.TIGHTLOOP_E2E_ALLOW_ANY_CONTEXT !== '1') {
      throw new Error(`context ${context} does not look like a local cluster; set TIGHTLOOP_E2E_ALLOW_ANY_CONTEXT=1 to run the suite against it anyway`);
    }
    client = new KubeClient(loaded, 30_000);
    const docs = readdirSync(MANIFESTS)
      .filter((f) => /\.ya?ml$/.test(f))
      .flatMap((f) => parseAllDocuments(readFileSync(path.join(MANIFESTS, f), 'utf8')).map((d) => d.toJSON() as { kind: string }));
    original = docs.find((d) => d.kind === 'Deployment') as V1Deployment;
    const service = docs.find((d) => d.kind === 'Service') as V1Service | undefined;
    image = process.env.TIGHTLOOP_E2E_IMAGE ?? original.spec!.template.spec!.containers[0]!.image!;
    original.spec!.template.spec!.containers[0]!.image = image;
    await client.core.createNamespace({ body: { metadata: { name: namespace, labels: { 'app.kubernetes.io/created-by': 'tightloop-e2e' } } } });
    await client.apps.createNamespacedDeployment({ namespace, body: { ...original, metadata: { ...original.metadata, namespace } } });
    if (service) await client.core.createNamespacedService({ namespace, body: { ...service, metadata: { ...service.metadata, namespace } } });
    // The first rollout, watched by the same code under test (nothing to replace yet).
    await waitForRollout(client, baseline(1, new Set()), { timeoutMs: 180_000, signal: new AbortController().signal, progress: () => {} });
  });

  after(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when before() failed
    await client?.core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  /** Put the example's template back (after a failure scenario) and wait for it with our own watcher. */
  async function restore(): Promise<void> {
    const current = await client.apps.readNamespacedDeployment({ name: 'hello', namespace });
    const pods = await client.core.listNamespacedPod({ namespace, labelSelector: 'app=hello' });
    current.spec!.template = structuredClone(original.spec!.template);
    current.spec!.template.spec!.containers[0]!.image = image;
    const replaced = await client.apps.replaceNamespacedDeployment({ name: 'hello', namespace, body: current });
    // The broken pods must go; a healthy pod of the original template may stay (the controller keeps it).
    const broken = new Set(pods.items.filter((p) => !isPodReady(p)).map((p) => p.metadata!.uid!));
    await waitForRollout(client, baseline(replaced.metadata!.generation!, broken), { timeoutMs: 180_000, signal: new AbortController().signal, progress: () => {} });
  }

  function baseline(generation: number, notUids: Set<string>): Baseline {
    return { kind: 'deployment', name: 'hello', namespace, selector: 'app=hello', container: 'hello', generation, current: { notUids }, startedAt: Date.now() };
  }

  /** A test-side change to the template (what a developer's manifest edit would do). */
  async function patchTemplate(patch: object): Promise<void> {
    await client.apps.patchNamespacedDeployment({ name: 'hello', namespace, body: patch }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
  }

  async function expectFailure(deploy: Parameters<typeof makeConfig>[1], outputs: object = {}): Promise<StageError> {
    const c = config(deploy);
    const err = await deployAndReady(stagesFor(c), makeCtx(c, outputs)).then(
      () => assert.fail('expected the rollout to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StageError, String(err));
    console.log(`${err.message}\n  ${(err.options.evidence ?? []).join('\n  ')}`);
    return err;
  }

  it('rollout-restart replaces the pod and waits for it', async () => {
    const before = await client.core.listNamespacedPod({ namespace, labelSelector: 'app=hello' });
    const c = config({ strategy: 'rollout-restart' });
    const { ready } = await deployAndReady(stagesFor(c), makeCtx(c));
    const names = ready.outputs!.readyPods as string[];
    assert.equal(names.length, 1);
    assert.ok(!before.items.some((p) => p.metadata!.name === names[0]), 'a new pod');
  });

  it('ready finishes no later than `kubectl rollout status` (+0.2 s) on the same rollout', { skip: kubectlMissing() }, async () => {
    const c = config({ strategy: 'rollout-restart' });
    const stages = stagesFor(c);
    const ctx = makeCtx(c);
    const deploy = await stages.deploy!.run(ctx);
    Object.assign(ctx.outputs, deploy.outputs);
    Object.assign(ctx.handoffs, deploy.handoffs);
    const args = ['rollout', 'status', 'deployment/hello', '-n', namespace, '--kubeconfig', KUBECONFIG!, '--context', context, '--timeout=120s'];
    const kubectlDone = new Promise<number>((resolve, reject) =>
      execFile('kubectl', args, (error) => (error ? reject(error) : resolve(Date.now()))),
    );
    const readyDone = stages.ready!.run(ctx).then(() => Date.now());
    const [ours, theirs] = await Promise.all([readyDone, kubectlDone]);
    console.log(`ready ${ours - theirs} ms relative to kubectl rollout status`);
    assert.ok(ours <= theirs + 200, `ready finished ${ours - theirs} ms after kubectl rollout status`);
    await stages.dispose();
  });

  it('delete-pods deletes the pod and waits for its replacement', async () => {
    const c = config({ strategy: 'delete-pods' });
    const { deploy, ready } = await deployAndReady(stagesFor(c), makeCtx(c));
    assert.match(deploy.detail!, /deleted 1 pod of deployment\/hello/);
    assert.equal((ready.outputs!.readyPods as string[]).length, 1);
  });

  it('set-image to an unpullable image fails fast with ErrImagePull/ImagePullBackOff; set-image back rolls out', async () => {
    const started = Date.now();
    const err = await expectFailure({ readyTimeoutMs: 120_000 }, { deployRef: BAD_IMAGE });
    assert.match(err.message, new RegExp(`container "hello": the image ${BAD_IMAGE.replace(/[./]/g, '\\$&')} cannot be pulled \\((ErrImagePull|ImagePullBackOff)\\)`));
    assert.ok(Date.now() - started < 90_000, 'before the timeout');
    const c = config();
    const { deploy } = await deployAndReady(stagesFor(c), makeCtx(c, { deployRef: image }));
    assert.match(deploy.detail!, /set hello image to/);
  });

  it('a container that exits is reported as crashing, with its logs', async () => {
    await patchTemplate({ spec: { template: { spec: { containers: [{ name: 'hello', args: ['--version'] }] } } } });
    const err = await expectFailure({ strategy: 'rollout-restart' });
    assert.match(err.message, /container "hello" keeps crashing \(CrashLoopBackOff, exit code 0, Completed\)/);
    assert.ok(err.options.evidence!.some((l) => l.includes('hello from tightloop')), 'the log line');
    await restore();
  });

  it('a failing readiness probe is quoted from its event at the timeout', async () => {
    await patchTemplate({ spec: { template: { spec: { containers: [{ name: 'hello', readinessProbe: { httpGet: { path: '/nope', port: 8080 }, periodSeconds: 1, failureThreshold: 1 } }] } } } });
    const err = await expectFailure({ strategy: 'rollout-restart', readyTimeoutMs: 20_000 });
    assert.match(err.message, /container "hello" is running but its readiness probe keeps failing: Readiness probe failed: HTTP probe failed with statuscode: 404/);
    await restore();
  });

  it('an unschedulable pod is explained with the scheduler event', async () => {
    // Requests above the limit are rejected by the API server (422), so raise both.
    await patchTemplate({ spec: { template: { spec: { containers: [{ name: 'hello', resources: { requests: { memory: '64Ti' }, limits: { memory: '64Ti' } } }] } } } });
    const err = await expectFailure({ strategy: 'rollout-restart', readyTimeoutMs: 20_000 });
    assert.match(err.message, /\(container "hello"\) cannot be scheduled: 0\/\d+ nodes are available: .*Insufficient memory/);
    await restore();
  });

  it('a missing secret is reported as CreateContainerConfigError', async () => {
    await patchTemplate({ spec: { template: { spec: { containers: [{ name: 'hello', env: [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'tightloop-e2e-missing', key: 'password' } } }] }] } } } });
    const err = await expectFailure({ strategy: 'rollout-restart' });
    assert.match(err.message, /container "hello" cannot be created: .*tightloop-e2e-missing.* not found \(CreateContainerConfigError\)/);
    await restore();
  });

  it('streams the pod logs and port-forwards to the pod, following a restart', async () => {
    const local = await freePort();
    const lines: LogLine[] = [];
    const c = config({ strategy: 'rollout-restart', streamLogs: true, portForwards: [{ local, remote: 8080 }] });
    const stages = stagesFor(c, { logSink: (l) => lines.push(l) });
    try {
      await deployAndReady(stages, makeCtx(c));
      await waitFor(() => lines.some((l) => l.stage === 'pod' && l.text.includes('hello-service listening on :8080')), 30_000, 'the startup log line');
      await waitFor(() => lines.some((l) => l.text.startsWith(`forwarding 127.0.0.1:${local}`)), 10_000, 'the forward');
      assert.equal(await get(local), 'hello from tightloop\n');
      await deployAndReady(stages, makeCtx(c));
      assert.equal(await get(local), 'hello from tightloop\n', 'still forwarding after the pod was replaced');
    } finally {
      await stages.dispose();
    }
  });

  it('cluster facts: flavour and node architectures', async () => {
    const facts = await stagesFor(config()).cluster!.facts(new AbortController().signal);
    console.log(`facts: ${JSON.stringify(facts)}`);
    assert.equal(facts.context, context);
    assert.ok(facts.nodeArchitectures.length > 0, 'node architectures');
  });

  it('a context outside allowContexts changes nothing', async () => {
    const before = await client.apps.readNamespacedDeployment({ name: 'hello', namespace });
    const c = config({ strategy: 'rollout-restart' }, { allowContexts: ['some-other-*'] });
    await assert.rejects(deployAndReady(stagesFor(c), makeCtx(c)), /is not in kubernetes\.allowContexts/);
    const afterRead = await client.apps.readNamespacedDeployment({ name: 'hello', namespace });
    assert.equal(afterRead.metadata!.generation, before.metadata!.generation);
    assert.equal(afterRead.metadata!.resourceVersion, before.metadata!.resourceVersion);
  });
});

function kubectlMissing(): string | false {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'kubectl is not on PATH';
  }
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
