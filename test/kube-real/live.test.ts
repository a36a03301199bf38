import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RbacAuthorizationV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { Engine } from '../../src/engine/engine.js';
import type { KubeClient } from '../../src/engine/kube/client.js';
import { isPodReady } from '../../src/engine/kube/rollout.js';
import type { RunSummary } from '../../src/engine/types.js';
import { serverBinary, waitUntil } from '../agent/helpers.js';
import { deleteFromRegistry } from '../docker/helpers.js';
import { configIn, workspace } from '../helpers/workspace.js';
import { E2E_REGISTRY, LIVE_PORT, liveConfig, liveManifest, liveStages, localClusterAdmin, podGet } from './live-helpers.js';

/**
 * Live update on a real cluster, opt-in (TIGHTLOOP_E2E_KUBECONFIG, see docs/real-cluster-tests.md):
 * the engine builds a FROM scratch image in live mode (a static test server + the agent), pushes
 * it to TIGHTLOOP_E2E_REGISTRY (which the nodes must pull from) and deploys it from manifests,
 * 2 replicas with a 1 s readiness probe. Then: a covered save goes live into the same pods (same
 * UIDs, no rollout); both replicas serve it; a pod deleted and recreated serves the current
 * content before the service is ready again; a ServiceAccount without pods/exec falls back to the
 * full path and says why, and doctor reports it. What a pod serves is read through the API
 * server's port-forward, so nothing but the kubeconfig is needed to reach the pods.
 */

const KUBECONFIG = process.env.TIGHTLOOP_E2E_KUBECONFIG;
const skip = KUBECONFIG ? false : 'TIGHTLOOP_E2E_KUBECONFIG is not set (see docs/real-cluster-tests.md)';
if (skip) console.log(`real-cluster live suite skipped: ${skip}`);
const REGISTRY = E2E_REGISTRY;

describe('real cluster: live update (opt-in)', { skip, timeout: 15 * 60_000 }, () => {
  const namespace = `tightloop-e2e-l-${Date.now().toString(36)}`;
  const repository = `${REGISTRY}/tightloop-e2e/live-${Date.now().toString(36)}`;
  let admin: KubeClient;
  let context: string;
  let dir: string;
  /** The kubeconfig the engine reads: the user's, later a ServiceAccount's under the same context. */
  let engineKubeconfig: string;
  let engine: Engine | undefined;
  const delivered: string[] = [];

  const yaml = () => liveConfig({ kubeconfig: engineKubeconfig, context, namespace, repository });

  async function startEngine(): Promise<Engine> {
    const config = await configIn(dir, yaml());
    return Engine.start(config, { stages: liveStages });
  }

  async function save(version: string): Promise<void> {
    await writeFile(path.join(dir, 'src/server'), await serverBinary(version), { mode: 0o755 });
  }

  async function run(): Promise<RunSummary> {
    const [summary] = await engine!.run(['api']);
    assert.equal(summary?.status, 'ok', `${summary?.error ?? ''}\n${(summary?.evidence ?? []).join('\n')}`);
    if (summary.image && !delivered.includes(summary.image)) delivered.push(summary.image);
    return summary;
  }

  const stageOf = (s: RunSummary, stage: string) => s.records.find((r) => r.stage === stage);
  const pods = async (): Promise<V1Pod[]> =>
    (await admin.core.listNamespacedPod({ namespace, labelSelector: 'app=api' })).items.filter((p) => !p.metadata?.deletionTimestamp);
  const uids = async () => (await pods()).map((p) => p.metadata!.uid!).sort();
  /** "Scaled up replica set …" events of the Deployment: one more per rollout. */
  const scaledUp = async () =>
    (await admin.core.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === 'ScalingReplicaSet' && /^Scaled up/.test(e.message ?? '')).map((e) => `${e.metadata.uid}`).sort();
  const versionOf = async (pod: V1Pod) => (await podGet(admin.loaded.kc, namespace, pod.metadata!.name!, LIVE_PORT, '/')).split(' ')[0];
  const versions = async () => Promise.all((await pods()).map(versionOf));

  before(async () => {
    ({ admin, context } = localClusterAdmin(KUBECONFIG!));
    const loaded = admin.loaded;
    await admin.core.createNamespace({ body: { metadata: { name: namespace, labels: { 'app.kubernetes.io/created-by': 'tightloop-e2e' } } } });
    dir = await workspace({ 'src/settings.txt': 'one\n', 'k8s/api.yaml': liveManifest(repository) });
    engineKubeconfig = path.join(await mkdtemp(path.join(tmpdir(), 'tl-e2e-kubeconfig-')), 'config');
    // The engine's own copy (one context, credentials inline) so that the RBAC case can swap the user.
    loaded.kc.setCurrentContext(context);
    await writeFile(engineKubeconfig, loaded.kc.exportConfig(), { mode: 0o600 });
    await save('v1');
    engine = await startEngine();
  });

  after(async () => {
    await engine?.dispose();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when before() failed
    await admin?.core.deleteNamespace({ name: namespace }).catch(() => {});
    if (REGISTRY.startsWith('127.0.0.1:') || REGISTRY.startsWith('localhost:')) await deleteFromRegistry(delivered).catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
    if (engineKubeconfig) await rm(path.dirname(engineKubeconfig), { recursive: true, force: true });
  });

  it('first delivery: the full path builds the live-mode image; both replicas serve it', async () => {
    const first = await run();
    assert.match(stageOf(first, 'live')!.detail!, /^full image \+ rollout: no pod runs an image built in live mode yet/);
    for (const stage of ['image', 'push', 'deploy', 'ready']) assert.equal(stageOf(first, stage)!.status, 'ok', stage);
    assert.equal((await pods()).length, 2);
    assert.deepEqual(await versions(), ['v1', 'v1']);
  });

  it('live sync into the FROM scratch pods: the new code serves, same pod UIDs, no new ReplicaSet, no rollout', async () => {
    const before = { uids: await uids(), scaled: await scaledUp(), deployment: await admin.apps.readNamespacedDeployment({ name: 'api', namespace }) };
    await save('v2');
    const second = await run();
    const live = stageOf(second, 'live')!;
    assert.equal(live.status, 'ok', live.detail);
    assert.match(live.detail!, /1 file .* synced into .*: no new image, no rollout/);
    for (const stage of ['image', 'push', 'deploy', 'ready']) assert.equal(stageOf(second, stage)!.status, 'skipped', stage);
    // Ready means served: right after the run, without waiting, every pod answers with the new code.
    assert.deepEqual(await versions(), ['v2', 'v2']);
    assert.deepEqual(await uids(), before.uids, 'the same pods run');
    assert.deepEqual(await scaledUp(), before.scaled, 'no ReplicaSet was scaled up');
    const deployment = await admin.apps.readNamespacedDeployment({ name: 'api', namespace });
    assert.equal(deployment.metadata!.generation, before.deployment.metadata!.generation, 'no write to the Deployment');
  });

  it('two replicas: one run syncs both in parallel and both serve the new content', async () => {
    const names = (await pods()).map((p) => p.metadata!.name!);
    assert.equal(names.length, 2);
    await save('v3');
    const live = stageOf(await run(), 'live')!;
    assert.equal(live.status, 'ok', live.detail);
    for (const name of names) assert.ok(live.detail!.includes(name), `${name} is named in: ${live.detail}`);
    assert.deepEqual(await versions(), ['v3', 'v3']);
  });

  it('a pod deleted and recreated serves the current content before the service is ready again', async () => {
    const before = await uids();
    const [victim] = await pods();
    const gone = victim!.metadata!.uid!;
    await admin.core.deleteNamespacedPod({ name: victim!.metadata!.name!, namespace });
    // The ReplicaSet replaces it; the kubelet starts it from the image (v1) and its probe makes it Ready.
    await waitUntil('the replacement pod is Ready', 120_000, async () => {
      const now = await pods();
      return now.length === 2 && !now.some((p) => p.metadata!.uid === gone) && now.every(isPodReady);
    });
    // It runs its image's content (v1), or already the current one (v3) if a between-runs pod watch
    // synced it; the other pod keeps v3.
    const replacement = (await pods()).find((p) => p.metadata!.uid !== victim!.metadata!.uid && !before.includes(p.metadata!.uid!))!;
    assert.ok(['v1', 'v3'].includes((await versionOf(replacement))!), 'the new pod runs the image or the current content');
    // The next run (a save) must bring it to the current content before calling the service ready.
    await save('v4');
    const summary = await run();
    assert.equal(stageOf(summary, 'live')!.status, 'ok', stageOf(summary, 'live')!.detail);
    assert.deepEqual(await versions(), ['v4', 'v4'], 'every pod, the new one too, serves the current content once ready');
  });

  it('RBAC without pods/exec: the run falls back to the full path and says why; doctor reports it', async () => {
    const rbac = admin.loaded.kc.makeApiClient(RbacAuthorizationV1Api);
    const account = 'tightloop-e2e-no-exec';
    await admin.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: account } } });
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: account },
        // Everything a delivery needs, but not pods/exec.
        rules: [
          { apiGroups: [''], resources: ['pods', 'pods/log', 'pods/portforward', 'events', 'services', 'configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
          { apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'statefulsets', 'daemonsets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: { metadata: { name: account }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account }, subjects: [{ kind: 'ServiceAccount', name: account, namespace }] },
    });
    const token = (await admin.core.createNamespacedServiceAccountToken({ name: account, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } })).status?.token;
    assert.ok(token, 'a token from the TokenRequest API');
    await writeFile(engineKubeconfig, serviceAccountKubeconfig(admin.loaded.kc, context, account, token), { mode: 0o600 });

    // Same config file, same context: only the user changed, so the engine tries live first.
    await engine!.dispose();
    engine = await startEngine();
    const doctor = (await engine.doctor()).find((r) => r.check === 'live update');
    assert.equal(doctor?.status, 'warn', JSON.stringify(doctor));
    assert.match(doctor!.message, new RegExp(`may not exec into pods in ${namespace} \\(create pods/exec is denied.*\\); live updates will fall back to a full rollout`));

    const before = await uids();
    await save('v5');
    const summary = await run();
    const live = stageOf(summary, 'live')!;
    assert.equal(live.status, 'skipped');
    assert.match(live.detail!, /^full image \+ rollout: the API server forbids exec into pod \S+ \(api\) and 1 more pod \(HTTP 403 Forbidden\); live update needs the pods\/exec permission \(create\)$/);
    assert.ok(!live.detail!.slice(0, -1).includes('. '), `one sentence: ${live.detail}`);
    for (const stage of ['image', 'push', 'deploy', 'ready']) assert.equal(stageOf(summary, stage)!.status, 'ok', stage);
    const now = await uids();
    assert.ok(now.every((u) => !before.includes(u)), 'the rollout replaced the pods');
    assert.deepEqual(await versions(), ['v5', 'v5']);
  });
});

/** A kubeconfig for a ServiceAccount token on the current context's cluster, under the same context name. */
function serviceAccountKubeconfig(kc: KubeConfig, context: string, account: string, token: string): string {
  const cluster = kc.getCurrentCluster()!;
  const clusterEntry: Record<string, unknown> = { server: cluster.server };
  if (cluster.caData) clusterEntry['certificate-authority-data'] = cluster.caData;
  if (cluster.caFile) clusterEntry['certificate-authority'] = cluster.caFile;
  if (cluster.skipTLSVerify) clusterEntry['insecure-skip-tls-verify'] = true;
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster.name, cluster: clusterEntry }],
    users: [{ name: account, user: { token } }],
    contexts: [{ name: context, context: { cluster: cluster.name, user: account } }],
    'current-context': context,
  });
}
