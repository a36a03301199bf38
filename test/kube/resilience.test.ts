import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { StageError } from '../../src/engine/stages/stage.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { deployAndReady, deployment, makeConfig, makeCtx, startCluster, stagesFor, waitFor } from './helpers.js';

/** Dropped watches must resume (or re-list on 410 Gone); a vanished API server must fail fast, never hang. */

const NEW_IMAGE = 'registry.local/api:v2';

describe('watch resilience and API outages', () => {
  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close().catch(() => {}))));

  async function slowCluster() {
    const fake = await startCluster([deployment({ replicas: 2 })]);
    servers.push(fake);
    // Slow enough that the rollout is clearly in progress when the test interferes.
    fake.cluster.timing = { ...fake.cluster.timing, readyMs: 400 };
    return fake;
  }
  /** Mid-rollout: a new pod runs (not ready yet) and ready's watches are open. */
  const midRollout = (fake: FakeKubeServer) =>
    fake.cluster.pods().some((p) => p.spec.containers[0].image === NEW_IMAGE && p.status?.phase === 'Running') &&
    fake.openStreamPaths().includes('/api/v1/namespaces/default/pods') &&
    fake.openStreamPaths().includes('/apis/apps/v1/namespaces/default/deployments');
  const podRequests = (fake: FakeKubeServer) => fake.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/namespaces/default/pods');

  it('resumes a watch dropped mid-rollout from the last resourceVersion and still succeeds', async () => {
    const fake = await slowCluster();
    const config = makeConfig(fake.kubeconfigPath);
    const ctx = makeCtx(config, { deployRef: NEW_IMAGE });
    const rollout = deployAndReady(stagesFor(config), ctx);
    await waitFor(() => midRollout(fake), 5000, 'the rollout to be under way');
    const before = podRequests(fake).length;
    fake.dropWatches();
    const { ready } = await rollout;

    assert.equal((ready.outputs?.readyPods as string[]).length, 2);
    const afterDrop = podRequests(fake).slice(before);
    assert.ok(afterDrop.length >= 1, 'the pod watch was re-opened');
    assert.ok(afterDrop.every((r) => r.query.watch === 'true'), `resumed by watching again, no re-list: ${JSON.stringify(afterDrop.map((r) => r.query))}`);
    assert.ok(afterDrop.every((r) => Number(r.query.resourceVersion) > 0), 'from a resourceVersion');
    assert.ok(afterDrop.every((r) => r.query.allowWatchBookmarks === 'true'), 'bookmarks requested');
    assert.ok(ctx.lines.some((l) => /watch of \/api\/v1\/namespaces\/default\/pods closed.*; resuming from resourceVersion \d+/.test(l.text)), ctx.lines.map((l) => l.text).join('\n'));
    assert.ok(fake.cluster.activePods().every((p) => p.spec.containers[0].image === NEW_IMAGE), 'only new pods left');
  });

  it('re-lists when the resumed watch gets 410 Gone (history compacted) and still succeeds', async () => {
    const fake = await slowCluster();
    const config = makeConfig(fake.kubeconfigPath);
    const ctx = makeCtx(config, { deployRef: NEW_IMAGE });
    const rollout = deployAndReady(stagesFor(config), ctx);
    await waitFor(() => midRollout(fake), 5000, 'the rollout to be under way');
    const before = podRequests(fake).length;
    // History moves on past what the client saw, then gets compacted: resuming is impossible.
    fake.cluster.addConfigMap('default', 'unrelated', { k: 'v' });
    fake.cluster.store.compact();
    fake.dropWatches();
    const { ready } = await rollout;

    assert.equal((ready.outputs?.readyPods as string[]).length, 2);
    const afterDrop = podRequests(fake).slice(before);
    assert.ok(afterDrop.some((r) => r.query.watch !== 'true'), `a fresh LIST after 410: ${JSON.stringify(afterDrop.map((r) => r.query))}`);
    assert.ok(ctx.lines.some((l) => /expired at resourceVersion \d+; re-listing/.test(l.text)), ctx.lines.map((l) => l.text).join('\n'));
  });

  it('fails with a clear message, fast, when the API server is gone before deploy', async () => {
    const fake = await FakeKubeServer.start();
    const { url } = fake;
    const kubeconfig = fake.writeKubeconfig(path.join(mkdtempSync(path.join(tmpdir(), 'kube-gone-')), 'kubeconfig'));
    await fake.close().catch(() => {});
    const config = makeConfig(kubeconfig);
    const started = Date.now();
    const err = await deployAndReady(stagesFor(config), makeCtx(config, { deployRef: NEW_IMAGE })).catch((e: unknown) => e);
    assert.ok(err instanceof StageError, String(err));
    assert.match(err.message, new RegExp(`^Cannot reach the Kubernetes API at ${url} \\(context kind-fake\\): .*ECONNREFUSED`));
    assert.match(err.options.hint!, /kubectl --context kind-fake get nodes/);
    assert.ok(Date.now() - started < 3000, 'fast');
  });

  it('fails fast, not at the ready timeout, when the API server goes away mid-rollout', async () => {
    const fake = await slowCluster();
    const config = makeConfig(fake.kubeconfigPath, { readyTimeoutMs: 30_000 });
    const rollout = deployAndReady(stagesFor(config), makeCtx(config, { deployRef: NEW_IMAGE }));
    await waitFor(() => midRollout(fake), 5000, 'the rollout to be under way');
    const started = Date.now();
    await fake.close();
    const err = await rollout.catch((e: unknown) => e);
    assert.ok(err instanceof StageError, String(err));
    assert.match(err.message, /^Lost the connection to the Kubernetes API at http:\/\/127\.0\.0\.1:\d+ while waiting for deployment\/api: .*ECONNREFUSED/);
    assert.ok(Date.now() - started < 5000, `gave up in ${Date.now() - started} ms`);
  });

  it('a server that accepts connections but never answers hits the request deadline', async () => {
    const silent = net.createServer(() => {}); // swallow every connection
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const fake = await FakeKubeServer.start();
    servers.push(fake);
    const port = (silent.address() as net.AddressInfo).port;
    const kubeconfig = fake.writeKubeconfig(`${fake.kubeconfigPath}.silent`, ['kind-fake'], `http://127.0.0.1:${port}`);
    const config = makeConfig(kubeconfig);
    const started = Date.now();
    const err = await deployAndReady(stagesFor(config, { requestTimeoutMs: 300 }), makeCtx(config, { deployRef: NEW_IMAGE })).catch((e: unknown) => e);
    silent.close();
    assert.ok(err instanceof StageError, String(err));
    assert.match(err.message, /Cannot reach the Kubernetes API at .*: the request timed out or was cancelled/);
    assert.ok(Date.now() - started < 2000, 'fast');
  });

  it('cancellation stops the wait promptly', async () => {
    const fake = await slowCluster();
    fake.cluster.imageScenarios.set(NEW_IMAGE, { kind: 'probe-fail' });
    const config = makeConfig(fake.kubeconfigPath, { readyTimeoutMs: 30_000 });
    const abort = new AbortController();
    const rollout = deployAndReady(stagesFor(config), makeCtx(config, { deployRef: NEW_IMAGE }, abort.signal));
    await waitFor(() => midRollout(fake), 5000, 'the rollout to be under way');
    const started = Date.now();
    abort.abort();
    const err = await rollout.catch((e: unknown) => e);
    assert.ok(err instanceof StageError, String(err));
    assert.equal(err.message, 'cancelled');
    assert.ok(Date.now() - started < 500, 'prompt');
    // No watch left open on the server.
    await waitFor(() => fake.openStreams === 0, 2000, 'watches to close');
  });
});
