import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { KubeClient } from '../../src/engine/kube/client.js';
import { loadKubeConfig } from '../../src/engine/kube/kubeconfig.js';
import { MAX_LOG_STREAMS } from '../../src/engine/kube/pod-logs.js';
import { MAX_FORWARD_CONNECTIONS, PortForwarder } from '../../src/engine/kube/port-forward.js';
import { freePort } from '../helpers/net.js';
import { put, workspace } from '../helpers/workspace.js';
import type { LogLine } from '../../src/engine/types.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { deployAndReady, deployment, makeConfig, makeCtx, startCluster, stagesFor, waitFor } from './helpers.js';

/** What follows a service after ready is bounded: log streams per rollout, connections per forwarded port. */
describe('bounded followers (Kubernetes)', () => {
  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  it(`follows the logs of at most ${MAX_LOG_STREAMS} pods of a larger rollout, and says so`, async () => {
    const replicas = MAX_LOG_STREAMS + 3;
    const fake = await startCluster([deployment({ replicas })]);
    servers.push(fake);
    const lines: LogLine[] = [];
    const config = makeConfig(fake.kubeconfigPath, { streamLogs: true, strategy: 'rollout-restart', readyTimeoutMs: 20_000 });
    const stages = stagesFor(config, { logSink: (l) => lines.push(l) });
    await deployAndReady(stages, makeCtx(config));
    await waitFor(() => lines.some((l) => l.text === `following the logs of ${MAX_LOG_STREAMS} of ${replicas} pods`), 10_000, 'the note on the cap');
    const podsWithLines = () => new Set(lines.flatMap((l) => (/^\[([^\]]+)\] listening/.exec(l.text)?.slice(1) ?? []))).size;
    await waitFor(() => podsWithLines() === MAX_LOG_STREAMS, 10_000, `lines from ${MAX_LOG_STREAMS} pods`);
    assert.equal(fake.openStreamPaths().filter((p) => p.endsWith('/log')).length, MAX_LOG_STREAMS);
    await stages.dispose();
  });

  it(`holds at most ${MAX_FORWARD_CONNECTIONS} connections per forwarded port; the rest are refused`, async () => {
    // An API server that accepts the pod list and never answers: every connection stays open,
    // waiting for its pod, as during a slow or stuck cluster.
    const hung = net.createServer(() => {}); // accepts, never completes the TLS handshake
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const held: net.Socket[] = [];
    hung.on('connection', (s) => held.push(s));
    after(() => {
      for (const s of held) s.destroy();
      hung.close();
    });
    const dir = await workspace();
    const kubeconfig = await put(
      dir,
      'kubeconfig',
      `apiVersion: v1
kind: Config
current-context: kind-hung
clusters: [{ name: hung, cluster: { insecure-skip-tls-verify: true, server: "https://127.0.0.1:${(hung.address() as net.AddressInfo).port}" } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: kind-hung, context: { cluster: hung, user: u } }]
`,
    );
    const config = makeConfig(kubeconfig);
    const client = new KubeClient(loadKubeConfig(config.kubernetes, config.root));
    const local = await freePort();
    const notes: string[] = [];
    const forward = new PortForwarder(client, { namespace: 'default', selector: 'app=api', label: 'deployment/api' }, local, 8080, (text) => notes.push(text));
    await forward.start();
    const extra = 10;
    let refused = 0;
    const sockets: net.Socket[] = [];
    for (let i = 0; i < MAX_FORWARD_CONNECTIONS + extra; i++) {
      const socket = net.connect(local, '127.0.0.1');
      socket.on('error', () => {});
      socket.on('close', () => refused++);
      sockets.push(socket);
      await new Promise((r) => socket.once('connect', r));
    }
    await waitFor(() => refused === extra && forward.connections === MAX_FORWARD_CONNECTIONS, 4000, `${extra} refused, ${MAX_FORWARD_CONNECTIONS} held (now ${refused} refused, ${forward.connections} held; ${notes[0]})`);
    await forward.stop();
    await waitFor(() => refused === sockets.length, 10_000, 'every connection closed by stop()');
  });
});
