import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { contextAllowed } from '../../src/engine/kube/kubeconfig.js';
import { StageError } from '../../src/engine/stages/stage.js';
import { isPodReady } from '../fake-kube/controllers.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { daemonSet, DEFAULT_ALLOW, deployAndReady, deployment, makeConfig, makeCtx, startCluster, stagesFor, statefulSet } from './helpers.js';

/** Every deploy strategy against the fake API server, through the real client library; and the allow-list in front of them. */

describe('deploy strategies', () => {
  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));
  const start = async (...args: Parameters<typeof startCluster>) => {
    const s = await startCluster(...args);
    servers.push(s);
    return s;
  };

  it('set-image patches the container image with a strategic merge patch and waits for the new pod', async () => {
    const fake = await start([deployment({ containers: [
      { name: 'api', image: 'registry.local/api:v1', ports: [{ containerPort: 8080 }] },
      { name: 'proxy', image: 'envoy:1', ports: [{ containerPort: 9901 }] },
    ] })]);
    const oldPods = fake.cluster.pods().map((p) => p.metadata.name);
    const config = makeConfig(fake.kubeconfigPath, { container: 'api' });
    const stages = stagesFor(config);
    const ctx = makeCtx(config, { deployRef: 'registry.local/api@sha256:' + 'a'.repeat(64) });

    const { deploy, ready } = await deployAndReady(stages, ctx);

    const patches = fake.writes().filter((r) => r.method === 'PATCH');
    assert.equal(patches.length, 1);
    assert.equal(patches[0]!.contentType, 'application/strategic-merge-patch+json');
    assert.equal(patches[0]!.path, '/apis/apps/v1/namespaces/default/deployments/api');
    const d = fake.cluster.get('deployments', 'default', 'api')!;
    const containers = d.spec.template.spec.containers as { name: string; image: string }[];
    assert.deepEqual(containers.map((c) => [c.name, c.image]), [
      ['api', 'registry.local/api@sha256:' + 'a'.repeat(64)],
      ['proxy', 'envoy:1'],
    ], 'the sidecar is untouched and order kept');
    assert.equal(deploy.outputs?.deployedGeneration, 2);
    assert.match(deploy.detail!, /set api image to registry\.local\/api@sha256:a+ on deployment\/api \(generation 2\)/);

    const now = fake.cluster.pods();
    const active = now.filter((p) => !p.metadata.deletionTimestamp);
    assert.equal(active.length, 1, 'one active pod; the old one may still be terminating');
    assert.ok(!oldPods.includes(active[0]!.metadata.name), 'a new pod');
    assert.ok(isPodReady(active[0]!), 'ready');
    assert.deepEqual(ready.outputs?.readyPods, [active[0]!.metadata.name]);
    assert.equal(active[0]!.spec.containers[0].image, 'registry.local/api@sha256:' + 'a'.repeat(64));
    // Ready is decided by watches, not by polling GETs.
    const gets = fake.requests.filter((r) => r.method === 'GET');
    assert.ok(gets.some((r) => r.query.watch === 'true' && r.path.endsWith('/pods')), 'pods are watched');
    assert.ok(gets.some((r) => r.query.watch === 'true' && r.path.endsWith('/deployments')), 'the deployment is watched');
    assert.ok(gets.length < 12, `a handful of requests, not a poll loop (${gets.length})`);
    await stages.dispose();
  });

  it('set-image with the image already running changes nothing and is ready at once', async () => {
    const fake = await start([deployment({ image: 'registry.local/api:tl-abc' })]);
    const config = makeConfig(fake.kubeconfigPath);
    const stages = stagesFor(config);
    const { deploy, ready } = await deployAndReady(stages, makeCtx(config, { deployRef: 'registry.local/api:tl-abc' }));
    assert.equal(fake.writes().length, 0);
    assert.match(deploy.detail!, /already runs registry\.local\/api:tl-abc/);
    assert.equal((ready.outputs?.readyPods as string[]).length, 1);
  });

  it('rollout-restart sets kubectl.kubernetes.io/restartedAt with a merge patch and replaces every pod', async () => {
    const fake = await start([deployment({ replicas: 3 })]);
    const before = new Set(fake.cluster.pods().map((p) => p.metadata.uid));
    const config = makeConfig(fake.kubeconfigPath, { strategy: 'rollout-restart' });
    const stages = stagesFor(config);
    const { ready } = await deployAndReady(stages, makeCtx(config));

    const [patch] = fake.writes();
    assert.equal(patch!.method, 'PATCH');
    assert.equal(patch!.contentType, 'application/merge-patch+json');
    const at = fake.cluster.get('deployments', 'default', 'api')!.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'];
    assert.ok(!Number.isNaN(Date.parse(at)), `restartedAt is a timestamp (${at})`);
    const pods = fake.cluster.activePods();
    assert.equal(pods.length, 3);
    assert.ok(pods.every((p) => !before.has(p.metadata.uid) && isPodReady(p)), 'all pods new and ready');
    assert.equal((ready.outputs?.readyPods as string[]).length, 3);
  });

  it('delete-pods deletes the pods (no patch) and waits for their replacements', async () => {
    const fake = await start([deployment({ replicas: 2 })]);
    const before = fake.cluster.pods().map((p) => p.metadata.name);
    const config = makeConfig(fake.kubeconfigPath, { strategy: 'delete-pods' });
    const stages = stagesFor(config);
    const ctx = makeCtx(config);
    const { deploy, ready } = await deployAndReady(stages, ctx);
    assert.ok(ctx.lines.some((l) => l.stream === 'warn' && /imagePullPolicy IfNotPresent/.test(l.text)), 'warns that a fixed tag may come from the node cache');

    const writes = fake.writes();
    assert.deepEqual(writes.map((w) => w.method), ['DELETE', 'DELETE']);
    assert.deepEqual(writes.map((w) => w.path.split('/').pop()).sort(), [...before].sort());
    assert.match(deploy.detail!, /deleted 2 pods of deployment\/api/);
    const after = fake.cluster.activePods();
    assert.equal(after.length, 2);
    assert.ok(after.every((p) => !before.includes(p.metadata.name) && isPodReady(p)), 'all pods new and ready');
    assert.deepEqual([...(ready.outputs?.readyPods as string[])].sort(), after.map((p) => p.metadata.name).sort());
  });

  it('set-image back to the previous image after a failed rollout: the controller keeps the old pod, ready accepts it', async () => {
    const fake = await start([deployment({ image: 'registry.local/api:good' })]);
    const [oldPod] = fake.cluster.pods().map((p) => p.metadata.name);
    fake.cluster.imageScenarios.set('registry.local/api:broken', { kind: 'image-pull' });
    const config = makeConfig(fake.kubeconfigPath);
    const stages = stagesFor(config);
    await assert.rejects(deployAndReady(stages, makeCtx(config, { deployRef: 'registry.local/api:broken' })), /cannot be pulled/);
    assert.equal(fake.cluster.pods().length, 2, 'the broken pod next to the old one');

    const { ready } = await deployAndReady(stages, makeCtx(config, { deployRef: 'registry.local/api:good' }));
    assert.deepEqual(ready.outputs?.readyPods, [oldPod], 'the same pod, no new one');
    assert.deepEqual(fake.cluster.activePods().map((p) => p.metadata.name), [oldPod], 'the broken pod is gone or terminating');
  });

  it('a StatefulSet rolls pod by pod, reusing names; ready waits for the update revision', async () => {
    const fake = await start([statefulSet('db', 2)]);
    const uids = new Set(fake.cluster.pods().map((p) => p.metadata.uid));
    const config = makeConfig(fake.kubeconfigPath, { workload: 'statefulset/db' });
    const stages = stagesFor(config);
    const { ready } = await deployAndReady(stages, makeCtx(config, { deployRef: 'registry.local/db:v2' }));
    const pods = fake.cluster.activePods();
    assert.deepEqual(pods.map((p) => p.metadata.name).sort(), ['db-0', 'db-1']);
    assert.ok(pods.every((p) => !uids.has(p.metadata.uid) && p.spec.containers[0].image === 'registry.local/db:v2' && isPodReady(p)), 'all pods new, updated and ready');
    assert.deepEqual([...(ready.outputs?.readyPods as string[])].sort(), ['db-0', 'db-1']);
  });

  it('a DaemonSet found by label selector rolls on every node', async () => {
    const fake = await start([daemonSet('agent')], { nodes: [{ name: 'node-a' }, { name: 'node-b' }] });
    const config = makeConfig(fake.kubeconfigPath, { workload: 'daemonset:app=agent' });
    const stages = stagesFor(config);
    const { ready } = await deployAndReady(stages, makeCtx(config, { deployRef: 'registry.local/agent:v2' }));
    const pods = fake.cluster.activePods();
    assert.equal(pods.length, 2);
    assert.deepEqual(pods.map((p) => p.spec.nodeName).sort(), ['node-a', 'node-b']);
    assert.ok(pods.every((p) => p.spec.containers[0].image === 'registry.local/agent:v2' && isPodReady(p)), 'all pods updated and ready');
    assert.equal((ready.outputs?.readyPods as string[]).length, 2);
  });
});

/** Safety first: a context outside allowContexts gets no request at all, and the error says how to allow it. */

describe('context allow-list', () => {
  let fake: FakeKubeServer;
  before(async () => {
    fake = await startCluster(undefined, { contexts: ['prod-eu', 'kind-dev'] });
  });
  after(() => fake.close());

  for (const strategy of ['set-image', 'rollout-restart', 'delete-pods'] as const) {
    it(`refuses the current context "prod-eu" for ${strategy} with zero requests sent`, async () => {
      fake.requests.length = 0;
      const config = makeConfig(fake.kubeconfigPath, { strategy });
      const err = await deployAndReady(stagesFor(config), makeCtx(config, { deployRef: 'registry.local/api:v2' })).catch((e: unknown) => e);
      assert.ok(err instanceof StageError, String(err));
      assert.equal(err.message, 'Context "prod-eu" is not in kubernetes.allowContexts, so Tightloop will not change anything in it.');
      assert.match(err.options.hint!, /allowContexts: \[.*"kind-\*".*"prod-eu"\]/);
      assert.equal(fake.writes().length, 0, 'no write request');
      assert.equal(fake.requests.length, 0, 'not even a read: the check comes first');
      assert.equal(fake.cluster.get('deployments', 'default', 'api')!.metadata.generation, 1);
    });
  }

  it('deploys when kubernetes.context selects an allowed context from the same kubeconfig', async () => {
    const config = makeConfig(fake.kubeconfigPath, {}, { context: 'kind-dev' });
    const { deploy } = await deployAndReady(stagesFor(config), makeCtx(config, { deployRef: 'registry.local/api:v2' }));
    assert.match(deploy.detail!, /generation 2/);
  });

  it('deploys to prod-eu once allowContexts lists it', async () => {
    const config = makeConfig(fake.kubeconfigPath, { strategy: 'rollout-restart' }, { allowContexts: ['prod-*'] });
    await deployAndReady(stagesFor(config), makeCtx(config));
    assert.equal(fake.writes().filter((w) => w.method === 'PATCH').length >= 1, true);
  });

  it('matches globs across the characters cloud context names use', () => {
    assert.ok(contextAllowed('kind-kind', DEFAULT_ALLOW));
    assert.ok(contextAllowed('colima-dev', DEFAULT_ALLOW));
    assert.ok(contextAllowed('minikube', DEFAULT_ALLOW));
    assert.ok(!contextAllowed('minikube-prod', DEFAULT_ALLOW));
    assert.ok(!contextAllowed('kind', DEFAULT_ALLOW));
    assert.ok(!contextAllowed('gke_acme_europe-west1_prod', DEFAULT_ALLOW));
    assert.ok(contextAllowed('arn:aws:eks:eu-west-1:123456789012:cluster/dev', ['arn:aws:eks:*:cluster/dev']));
    assert.ok(!contextAllowed('arn:aws:eks:eu-west-1:123456789012:cluster/prod', ['arn:aws:eks:*:cluster/dev']));
    assert.ok(contextAllowed('dev.1', ['dev.?']));
    assert.ok(!contextAllowed('devx1', ['dev.1']), '"." is literal');
    assert.ok(!contextAllowed('anything', []));
  });
});
