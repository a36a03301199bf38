import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import type { LogLine } from '../../src/engine/types.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { deployAndReady, makeConfig, makeCtx, podLines, startCluster, stagesFor, waitFor } from './helpers.js';

/**
 * After ready: the new pods' logs stream into the log sink, and port-forwards on 127.0.0.1 reach
 * the workload through client-node's WebSocket PortForward — and keep reaching it after a rollout
 * replaced the pod.
 */

describe('after ready: logs and port-forwards', () => {
  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  it('streams the new pod logs into the sink (stage "pod") and switches to the next rollout\'s pod', async () => {
    const fake = await startCluster();
    servers.push(fake);
    const lines: LogLine[] = [];
    const config = makeConfig(fake.kubeconfigPath, { streamLogs: true, strategy: 'rollout-restart' });
    const stages = stagesFor(config, { logSink: (l) => lines.push(l) });

    const first = await deployAndReady(stages, makeCtx(config));
    const pod1 = (first.ready.outputs!.readyPods as string[])[0]!;
    await waitFor(() => podLines(lines).includes('listening on :8080'), 3000, 'the startup lines');
    assert.deepEqual(podLines(lines), ['api starting', 'listening on :8080']);
    assert.ok(lines.every((l) => l.service === 'api' && l.stream === 'stdout' && l.stage === 'pod'), 'tagged as pod output');

    const live = fake.cluster.get('pods', 'default', pod1)!;
    fake.cluster.kubelet.emitLogs(live, 'api', ['GET /healthz 200', 'GET /orders 200']);
    await waitFor(() => podLines(lines).includes('GET /orders 200'), 3000, 'a live line');

    lines.length = 0;
    const second = await deployAndReady(stages, makeCtx(config));
    const pod2 = (second.ready.outputs!.readyPods as string[])[0]!;
    assert.notEqual(pod1, pod2);
    await waitFor(() => podLines(lines).includes('listening on :8080'), 3000, 'the new pod lines');
    fake.cluster.kubelet.emitLogs(fake.cluster.get('pods', 'default', pod2)!, 'api', ['from the new pod']);
    await waitFor(() => podLines(lines).includes('from the new pod'), 3000, 'a live line of the new pod');

    await stages.dispose();
    await waitFor(() => fake.openStreams === 0, 2000, 'log streams to close on dispose');
  });

  it('port-forwards 127.0.0.1:LOCAL to the pod and follows the workload across a rollout', async () => {
    const fake = await startCluster();
    servers.push(fake);
    const local = await freePort();
    const config = makeConfig(fake.kubeconfigPath, { strategy: 'rollout-restart', portForwards: [{ local, remote: 8080 }] });
    const messages: string[] = [];
    const stages = stagesFor(config, { logSink: (l) => messages.push(l.text) });

    const first = await deployAndReady(stages, makeCtx(config));
    const pod1 = (first.ready.outputs!.readyPods as string[])[0]!;
    await waitFor(() => messages.some((m) => m.startsWith(`forwarding 127.0.0.1:${local}`)), 3000, 'the forward to listen');
    assert.equal(await get(local, '/'), `hello from ${pod1}\n`);
    assert.equal(await get(local, '/again'), `hello from ${pod1}\n`, 'a second connection works too');

    const second = await deployAndReady(stages, makeCtx(config));
    const pod2 = (second.ready.outputs!.readyPods as string[])[0]!;
    assert.notEqual(pod1, pod2);
    assert.equal(await get(local, '/'), `hello from ${pod2}\n`, 'the same local port now reaches the new pod');
    const forwards = fake.requests.filter((r) => r.path.endsWith('/portforward'));
    assert.deepEqual(forwards.map((r) => [r.path.split('/')[6], r.query.ports]), [[pod1, '8080'], [pod1, '8080'], [pod2, '8080']]);

    await stages.dispose();
    await assert.rejects(get(local, '/'), /ECONNREFUSED/, 'closed on dispose');
  });

  it('reports a remote port nobody listens on through the log, without failing the run', async () => {
    const fake = await startCluster();
    servers.push(fake);
    const local = await freePort();
    const config = makeConfig(fake.kubeconfigPath, { strategy: 'rollout-restart', portForwards: [{ local, remote: 9999 }] });
    const messages: string[] = [];
    const stages = stagesFor(config, { logSink: (l) => messages.push(`${l.stream}: ${l.text}`) });
    await deployAndReady(stages, makeCtx(config));
    await waitFor(() => messages.some((m) => m.includes(`forwarding 127.0.0.1:${local}`)), 3000, 'the forward to listen');
    await assert.rejects(get(local, '/'));
    await waitFor(() => messages.some((m) => /^warn: port-forward \d+ → api-\w+-\w+:9999: .*connection refused/.test(m)), 3000, 'the kubelet error in the log');
    await stages.dispose();
  });
});

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
      res.on('error', reject);
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
