import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { assess, type Baseline } from '../../src/engine/kube/rollout.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { deployAndReady, deployment, makeConfig, makeCtx, startCluster, stagesFor } from './helpers.js';

/**
 * Ready means what `kubectl rollout status` means (issue 10 item 11): a replaced pod that is
 * terminating (deletionTimestamp set, still listed for its grace period on a real cluster) is not
 * an active old replica, so ready does not wait for it to disappear.
 */

const NEW = 'registry.local/api:new';
const baseline: Baseline = { kind: 'deployment', name: 'api', namespace: 'default', selector: 'app=api', container: 'api', generation: 2, current: { image: NEW }, startedAt: 0 };
const pod = (name: string, image: string, ready: boolean, terminating = false): V1Pod => ({
  metadata: { name, uid: name, ...(terminating && { deletionTimestamp: new Date() }) },
  spec: { containers: [{ name: 'api', image }] },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const rolledOut: V1Deployment = {
  metadata: { name: 'api', generation: 2 },
  spec: { replicas: 1, selector: {}, template: {} },
  status: { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1 },
};

describe('ready = rollout status', () => {
  it('a terminating old pod does not hold ready back; an active one does', () => {
    assert.equal(assess('deployment', rolledOut, [pod('new', NEW, true), pod('old', 'v1', true, true)], baseline).done, true);
    const active = assess('deployment', rolledOut, [pod('new', NEW, true), pod('old', 'v1', true)], baseline);
    assert.equal(active.done, false);
    assert.match(active.summary, /1 old pod still running/);
    assert.equal(assess('deployment', { ...rolledOut, status: { ...rolledOut.status, observedGeneration: 1 } }, [pod('new', NEW, true)], baseline).done, false, 'generation not observed');
  });

  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  it('against the fake API server: ready while the replaced pod is still listed as terminating', async () => {
    const fake = await startCluster([deployment()]);
    servers.push(fake);
    // A kubelet that takes its time to confirm the stop (a real one: 2–4 s, longer with a slow SIGTERM handler).
    fake.cluster.timing = { ...fake.cluster.timing, terminateMs: 20_000 };
    const config = makeConfig(fake.kubeconfigPath, { container: 'api', readyTimeoutMs: 10_000 });
    const stages = stagesFor(config);
    const started = Date.now();
    await deployAndReady(stages, makeCtx(config, { deployRef: NEW }));
    const took = Date.now() - started;
    const terminating = fake.cluster.pods().filter((p) => p.metadata.deletionTimestamp);
    assert.equal(terminating.length, 1, 'the old pod is still listed, terminating');
    assert.equal(fake.cluster.activePods().length, 1);
    assert.ok(took < 10_000, `ready after ${took} ms`);
    await stages.dispose();
  });
});
