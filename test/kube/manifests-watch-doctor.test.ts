import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { kubeWithPushed } from './helpers.js';
import type { EngineEvent, RunSummary } from '../../src/engine/types.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { configIn, put, until, workspace } from '../helpers/workspace.js';

/**
 * Issue 12's remaining promises, each through the engine and the real client against the fake
 * API server: in watch mode a resource (and a service) re-applies when its manifests change; a
 * DaemonSet from manifests is waited for like a Deployment; a changed workload selector (immutable)
 * is one sentence naming the file, document, line, object and field; doctor warns when the built
 * image matches no container and names an unknown kind with its file and document.
 */

const DIGEST = `127.0.0.1:5000/agent@sha256:${'c'.repeat(64)}`;
const servers: FakeKubeServer[] = [];
after(async () => Promise.all(servers.map((s) => s.close())));

async function setup(files: Record<string, string>, yaml: (kubeconfig: string) => string) {
  const fake = await FakeKubeServer.start();
  servers.push(fake);
  const dir = await workspace(files);
  const config = await configIn(dir, yaml(fake.kubeconfigPath));
  const events: EngineEvent[] = [];
  // The image stages are not under test: the pushed digest arrives as the push stage's output.
  const engine = await Engine.start(config, { stages: kubeWithPushed({ ref: DIGEST }, '127.0.0.1:5000/agent:tl-1') });
  engine.on((e) => events.push(e));
  after(() => engine.dispose());
  return { fake, dir, engine, events };
}

const finished = (events: EngineEvent[], service: string) =>
  events.filter((e): e is Extract<EngineEvent, { type: 'run-finished' }> => e.type === 'run-finished' && e.summary.service === service).map((e) => e.summary);
const ok = (run: RunSummary | undefined) => assert.equal(run?.status, 'ok', `${run?.error}\n${(run?.evidence ?? []).join('\n')}`);

const REDIS = (maxmemory: string) => `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: redis }
spec:
  serviceName: redis
  replicas: 1
  selector: { matchLabels: { app: redis } }
  template:
    metadata: { labels: { app: redis } }
    spec:
      containers: [{ name: redis, image: "redis:7", args: ["--maxmemory", "${maxmemory}"] }]
`;
const AGENT = (app = 'agent', image = '127.0.0.1:5000/agent:dev') => `apiVersion: apps/v1
kind: DaemonSet
metadata: { name: agent }
spec:
  selector: { matchLabels: { app: ${app} } }
  template:
    metadata: { labels: { app: ${app} } }
    spec:
      containers: [{ name: agent, image: "${image}" }]
`;

const serviceYaml = (kubeconfig: string) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  agent:
    stage: { dir: out, files: [{ from: bin/agent, to: agent }] }
    image: { repository: 127.0.0.1:5000/agent }
    deploy: { manifests: [k8s], readyTimeout: 10s }
`;

describe('manifests in watch mode', () => {
  it('a resource re-applies when its manifest changes, and a service when its k8s/ folder does', async () => {
    const { fake, dir, engine, events } = await setup({ 'db/redis.yaml': REDIS('64mb'), 'bin/agent': 'v1', 'k8s/agent.yaml': AGENT() }, (kubeconfig) => `${serviceYaml(kubeconfig)}resources:
  redis:
    manifests: [db]
`);
    // As `tightloop watch` does: run everything once, then watch.
    for (const run of await engine.run(['agent', 'redis'])) ok(run);
    await engine.startWatching();

    await put(dir, 'db/redis.yaml', REDIS('128mb'));
    await until(() => finished(events, 'redis').length === 2, 20_000, 'a redis run after its manifest changed');
    const redis = finished(events, 'redis')[1]!;
    ok(redis);
    assert.equal(redis.trigger.reason, 'watch');
    assert.equal(redis.records.find((r) => r.stage === 'deploy')!.status, 'ok');
    assert.deepEqual(fake.cluster.get('statefulsets', 'default', 'redis')!.spec.template.spec.containers[0].args, ['--maxmemory', '128mb']);

    await put(dir, 'k8s/agent.yaml', AGENT().replace('containers:', 'nodeSelector: { kubernetes.io/os: linux }\n      containers:'));
    await until(() => finished(events, 'agent').length === 2, 20_000, 'an agent run after k8s/ changed');
    const agent = finished(events, 'agent')[1]!;
    ok(agent);
    assert.equal(agent.records.find((r) => r.stage === 'image')!.status, 'skipped', 'the artifact did not change');
    assert.equal(agent.records.find((r) => r.stage === 'deploy')!.status, 'ok');
    assert.deepEqual(fake.cluster.get('daemonsets', 'default', 'agent')!.spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
    await engine.whenIdle();
  });
});

describe('manifests: workloads and rejections', () => {
  it('waits for a DaemonSet from manifests, with the digest injected; a changed selector is one sentence naming the field', async () => {
    const { fake, dir, engine } = await setup({ 'bin/agent': 'v1', 'k8s/agent.yaml': AGENT() }, serviceYaml);
    const [run] = await engine.run(['agent']);
    ok(run);
    assert.match(run!.records.find((r) => r.stage === 'ready')!.detail!, /^daemonset\/agent ready/);
    const ds = fake.cluster.get('daemonsets', 'default', 'agent')!;
    assert.equal(ds.spec.template.spec.containers[0].image, DIGEST);
    assert.equal(ds.status.numberReady, ds.status.desiredNumberScheduled);

    await put(dir, 'k8s/agent.yaml', `# agent\n${AGENT('agent-v2')}`);
    const [changed] = await engine.run(['agent']);
    assert.equal(changed!.status, 'failed');
    assert.match(changed!.error!, /^deploy: k8s\/agent\.yaml document 1 \(line 2\): DaemonSet\/agent was rejected by the API server: spec\.selector: Invalid value: .*field is immutable\.$/);
    assert.doesNotMatch(changed!.error!, /HTTP-Code|Body:/);
  });
});

describe('manifests: a resource\'s port-forward and logs', () => {
  it('forwards 127.0.0.1:LOCAL to the resource\'s pod after ready and streams its logs', async () => {
    const local = await freePort();
    const { fake, engine, events } = await setup({ 'db/redis.yaml': REDIS('64mb').replace('args:', 'ports: [{ containerPort: 6379 }], args:') }, (kubeconfig) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  placeholder: { compile: { command: "true" } }
resources:
  redis:
    manifests: [db]
    portForwards: ["${local}:6379"]
`);
    const [run] = await engine.run(['redis']);
    ok(run);
    const pod = (fake.cluster.store.list('pods') as { metadata: { name: string } }[]).find((p) => p.metadata.name.startsWith('redis'))!.metadata.name;
    const logs = () => events.filter((e): e is Extract<EngineEvent, { type: 'log' }> => e.type === 'log' && e.line.service === 'redis').map((e) => e.line.text);
    await until(() => logs().some((t) => t.startsWith(`forwarding 127.0.0.1:${local}`)), 10_000, 'the forward to listen');
    assert.equal(await get(local), `hello from ${pod}\n`);
    await until(() => logs().includes('listening on :6379'), 10_000, 'the pod log lines');
  });
});

describe('manifests: doctor', () => {
  it('warns when the built image matches no container, and names an unknown kind with its file and document', async () => {
    const { engine } = await setup(
      {
        'bin/agent': 'v1',
        'k8s/agent.yaml': AGENT('agent', 'docker.io/library/busybox:1.36'),
        'k8s/widget.yaml': 'apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\n',
      },
      serviceYaml,
    );
    const results = (await engine.doctor()).filter((r) => r.check === 'manifests');
    const text = results.map((r) => `${r.status}: ${r.message}`).join('\n');
    assert.ok(results.some((r) => r.status === 'warn' && r.service === 'agent' && /names image 127\.0\.0\.1:5000\/agent: the built image would not be deployed/.test(r.message)), text);
    assert.ok(results.some((r) => r.status !== 'ok' && /k8s\/widget\.yaml document 1 \(line 1\): Widget\/w \(example\.com\/v1\)/.test(r.message)), text);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
