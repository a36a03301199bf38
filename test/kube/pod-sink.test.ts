import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { PodSummary } from '../../src/engine/types.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { deployAndReady, deployment, makeConfig, makeCtx, startCluster, stagesFor } from './helpers.js';

/** The editor's view lists a service's pods with readiness and restarts: the ready stage reports them. */
describe('pods reported after ready', () => {
  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  it('reports every ready pod of the new rollout, ready, with its restart count', async () => {
    const fake = await startCluster([deployment({ replicas: 2 })]);
    servers.push(fake);
    const reports: { service: string; pods: PodSummary[] }[] = [];
    const config = makeConfig(fake.kubeconfigPath, { strategy: 'rollout-restart', streamLogs: false });
    const stages = stagesFor(config, { podSink: (service, pods) => reports.push({ service, pods }) });
    const { ready } = await deployAndReady(stages, makeCtx(config));
    const names = ready.outputs!.readyPods as string[];
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.service, 'api');
    assert.deepEqual(reports[0]!.pods.map((p) => p.name).sort(), [...names].sort());
    assert.ok(reports[0]!.pods.every((p) => p.ready && p.restarts === 0 && p.phase === 'Running'), JSON.stringify(reports[0]!.pods));
    await stages.dispose();
  });
});
