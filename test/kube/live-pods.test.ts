/**
 * Live update of every ready pod of a workload: pods listed through the real client, each synced
 * over pods/exec into a real agent process, with the per-pod-UID record deciding what each gets.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeClient } from '../../src/engine/kube/client.js';
import { loadKubeConfig } from '../../src/engine/kube/kubeconfig.js';
import { kubeLiveTargets } from '../../src/engine/live/kube-targets.js';
import { syncTargets, type LiveRecord } from '../../src/engine/live/sync-pods.js';
import type { ResolvedService } from '../../src/engine/config/resolved.js';
import type { StagedFile } from '../../src/engine/stages/stage.js';
import { agentBinary, get, serverBinary, waitUntil } from '../agent/helpers.js';
import { tempDir } from '../docker/helpers.js';
import { LocalAgentContainer } from '../fake-kube/agent-pods.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { freePort } from '../helpers/net.js';
import { deployment, makeConfig, startCluster } from './helpers.js';
import { createHash } from 'node:crypto';

let fake: FakeKubeServer;
let client: KubeClient;
let service: ResolvedService;
let stagingDir: string;
const containers = new Map<string, { c: LocalAgentContainer; port: number }>();

const live = { sync: [{ from: 'server', to: '/app/server' }], action: 'restart' as const, signal: 1, fallBackOn: [], maxDeltaBytes: 64e6, graceMs: 3000, listenTimeoutMs: 10_000 };

async function staged(version: string): Promise<StagedFile[]> {
  const bytes = await serverBinary(version);
  await writeFile(path.join(stagingDir, 'server'), bytes, { mode: 0o755 });
  return [{ path: 'server', sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, mode: 0o755 }];
}

/** Gives every listed pod without one a real agent + server (v1: the image's content). */
async function backPods(): Promise<void> {
  for (const pod of fake.cluster.store.list('pods', 'default')) {
    const name = pod.metadata.name;
    if (containers.has(name)) continue;
    const port = await freePort();
    const c = await LocalAgentContainer.start(await agentBinary(), { files: [{ path: '/app/server', content: await serverBinary('v1'), mode: 0o755 }], command: ['/app/server', String(port)], targets: ['/app'] });
    containers.set(name, { c, port });
    fake.exec.backends.set(`default/${name}`, c.exec);
    await waitUntil(`${name} serves`, 10_000, async () => (await get(port, '/')).status === 200);
  }
}

const versionOf = async (pod: string) => (await get(containers.get(pod)!.port, '/')).body.split(' ')[0];

before(async () => {
  stagingDir = await tempDir('tl-live-stage-');
  fake = await startCluster([deployment({ replicas: 2 })]);
  const config = makeConfig(fake.kubeconfigPath);
  service = { ...config.services.api!, live };
  client = new KubeClient(loadKubeConfig(config.kubernetes, config.root));
  await backPods();
});
after(async () => {
  for (const { c } of containers.values()) await c.stop();
  await fake.close();
});

describe('live update of all ready pods', () => {
  let record: LiveRecord;

  test('two replicas are synced in parallel and recorded per pod UID', async () => {
    const image = await staged('v1');
    record = { imageFiles: image, pods: {} };
    const files = await staged('v2');
    const targets = await kubeLiveTargets(client, service, new AbortController().signal);
    assert.equal(targets.length, 2);
    const outcome = await syncTargets({ live, root: '/ws', stagingDir, staged: files, changedFiles: [], record, targets });
    assert.equal(outcome.kind, 'synced', outcome.kind === 'fallback' ? outcome.reason : '');
    record = outcome.record;
    assert.deepEqual(Object.keys(record.pods).sort(), targets.map((t) => t.uid).sort());
    for (const t of targets) assert.equal(await versionOf(t.name), 'v2');
  });

  test('a pod recreated since gets the current content; the others get nothing again', async () => {
    const before = await kubeLiveTargets(client, service, new AbortController().signal);
    await client.core.deleteNamespacedPod({ name: before[0]!.name, namespace: 'default', gracePeriodSeconds: 0 });
    await waitUntil('the replacement pod is ready', 10_000, async () => {
      const now = await kubeLiveTargets(client, service, new AbortController().signal);
      return now.length === 2 && !now.some((t) => t.uid === before[0]!.uid);
    });
    await backPods();
    const targets = await kubeLiveTargets(client, service, new AbortController().signal);
    const fresh = targets.find((t) => !record.pods[t.uid])!;
    assert.equal(await versionOf(fresh.name), 'v1', 'the new pod starts with the image content');
    const outcome = await syncTargets({ live, root: '/ws', stagingDir, staged: await staged('v2'), changedFiles: [], record, targets });
    assert.equal(outcome.kind, 'synced', outcome.kind === 'fallback' ? outcome.reason : '');
    const byName = new Map(outcome.results.map((r) => [r.target.name, r.result.files]));
    assert.equal(byName.get(fresh.name), 1, 'the new pod got the file');
    assert.equal(byName.get(targets.find((t) => t !== fresh)!.name), 0, 'the synced pod got nothing again');
    assert.equal(await versionOf(fresh.name), 'v2');
    assert.ok(!(before[0]!.uid in outcome.record.pods), 'the deleted pod is forgotten');
    record = outcome.record;
  });

  test('exec forbidden: falls back and says why', async () => {
    fake.exec.forbidden = true;
    try {
      const targets = await kubeLiveTargets(client, service, new AbortController().signal);
      const outcome = await syncTargets({ live, root: '/ws', stagingDir, staged: await staged('v3'), changedFiles: [], record, targets });
      assert.equal(outcome.kind, 'fallback');
      assert.equal(outcome.code, 'exec-forbidden');
      assert.match(outcome.reason, /forbids exec.*pods\/exec permission/);
    } finally {
      fake.exec.forbidden = false;
    }
  });
});
