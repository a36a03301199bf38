/**
 * Live sync over the Kubernetes exec API: the real @kubernetes/client-node Exec against the fake
 * API server's exec endpoint (websocket channel protocol v5 and v4), backed by a real agent
 * supervising a real server process.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { KubeExecTransport } from '../../src/engine/live/kube-exec.js';
import { LiveSyncError, liveSync, syncFileFrom } from '../../src/engine/live/sync.js';
import { agentBinary, get, serverBinary, waitUntil } from '../agent/helpers.js';
import { padTo, tempDir } from '../docker/helpers.js';
import { LocalAgentContainer } from '../fake-kube/agent-pods.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { freePort } from '../helpers/net.js';

let server: FakeKubeServer;
let kc: KubeConfig;
let work: string;
let container: LocalAgentContainer | undefined;
let port: number;
const RESTART = { kind: 'restart', listenWaitMs: 10_000 } as const;

async function file(version: string, pad = 0) {
  const f = path.join(work, `server-${version}`);
  const binary = await serverBinary(version);
  await writeFile(f, pad ? padTo(binary, pad, version) : binary, { mode: 0o755 });
  return syncFileFrom(f, '/app/server');
}

const transport = (pod = 'api-0') => new KubeExecTransport(kc, 'default', pod, 'app');

before(async () => {
  work = await tempDir('tl-kube-live-');
  server = await FakeKubeServer.start();
  kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-0' }, spec: { containers: [{ name: 'app', image: 'x' }] } });
  server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain-0' }, spec: { containers: [{ name: 'app', image: 'x' }] } });
});
beforeEach(async () => {
  await container?.stop();
  port = await freePort();
  container = await LocalAgentContainer.start(await agentBinary(), {
    files: [{ path: '/app/server', content: await serverBinary('v1'), mode: 0o755 }],
    command: ['/app/server', String(port)],
    targets: ['/app'],
  });
  server.exec.backends.set('default/api-0', container.exec);
  server.exec.protocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
  server.exec.forbidden = false;
  await waitUntil('v1 answers', 10_000, async () => (await get(port, '/')).status === 200);
});
after(async () => {
  await container?.stop();
  await server.close();
});

describe('the fake exec endpoint behaves like containerd', () => {
  test('stdin is cut when the process closes its stdout: `cat > f` gets a truncated file and exits 0', async () => {
    const out = path.join(work, 'cat-out');
    server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shell-0' }, spec: { containers: [{ name: 'sh', image: 'x' }] } });
    server.exec.backends.set('default/shell-0', () => spawn('sh', ['-c', `exec >/dev/null; cat > ${out}`], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const stdin = new PassThrough();
    let status: V1Status | undefined;
    const ws = await new Exec(kc).exec('default', 'shell-0', 'sh', ['sh'], new PassThrough(), new PassThrough(), stdin, false, (s) => (status = s));
    const closed = new Promise((r) => ws.on('close', r));
    stdin.end(Buffer.alloc(20 * 1024 * 1024, 7));
    await closed;
    assert.equal(status?.status, 'Success', 'the exit status says nothing went wrong');
    assert.ok(statSync(out).size < 20 * 1024 * 1024, `only ${statSync(out).size} of 20 MiB arrived`);
  });
});

describe('live sync over pods/exec', () => {
  for (const protocol of ['v5.channel.k8s.io', 'v4.channel.k8s.io']) {
    test(`${protocol}: 20 MB arrive whole, the process restarts on the new binary`, async () => {
      server.exec.protocols = [protocol];
      const r = await liveSync(transport(), [await file('v2', 20 * 1024 * 1024)], RESTART);
      assert.equal(r.bytes, 20 * 1024 * 1024);
      assert.deepEqual(r.ports, [port]);
      assert.equal((await get(port, '/')).body.split(' ')[0], 'v2');
      await waitUntil('the exec session is closed', 5000, () => server.exec.open === 0);
    });
  }

  test('a signal action and an action of none', async () => {
    const hup = await liveSync(transport(), [], { kind: 'signal', signal: 1 });
    assert.equal(hup.action, 'signal');
    await waitUntil('the HUP arrived', 5000, async () => (await get(port, '/hups')).body.trim() === '1');
    const none = await liveSync(transport(), [await file('v5')], { kind: 'none' });
    assert.equal(none.files, 1);
    assert.equal((await get(port, '/')).body.split(' ')[0], 'v1', 'no restart: the old process still serves');
  });

  test('exec forbidden by RBAC: exec-forbidden, saying which permission', async () => {
    server.exec.forbidden = true;
    await assert.rejects(liveSync(transport(), [await file('v2')], RESTART), (e: LiveSyncError) => {
      assert.equal(e.code, 'exec-forbidden', e.message);
      assert.match(e.message, /pods\/exec/);
      return true;
    });
  });

  test('a pod whose image has no agent: no-agent', async () => {
    await assert.rejects(liveSync(transport('plain-0'), [await file('v2')], RESTART), (e: LiveSyncError) => {
      assert.equal(e.code, 'no-agent', e.message);
      return true;
    });
  });

  test('a pod that is gone: gone', async () => {
    await assert.rejects(liveSync(transport('missing-0'), [await file('v2')], RESTART), (e: LiveSyncError) => {
      assert.equal(e.code, 'gone', e.message);
      return true;
    });
  });

  test('a refused path and a crashing version are reported with the agent\'s reason', async () => {
    await assert.rejects(liveSync(transport(), [{ ...(await file('v2')), path: '/etc/passwd' }], RESTART), (e: LiveSyncError) => e.code === 'refused-path');
    await assert.rejects(liveSync(transport(), [await file('crash-x')], RESTART), (e: LiveSyncError) => {
      assert.equal(e.code, 'child-exited');
      assert.equal(e.details.exitCode, 3);
      assert.ok(e.details.tail?.includes('fatal: cannot start this version'));
      return true;
    });
  });
});
