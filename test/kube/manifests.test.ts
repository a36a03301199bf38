import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { kubeWithPushed } from './helpers.js';
import type { EngineEvent, RunSummary } from '../../src/engine/types.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { configIn, put, workspace } from '../helpers/workspace.js';

/**
 * Deploying from manifests through the engine (config → deploy → ready → state), the real
 * client-node against the fake API server with server-side apply.
 */

const DIGEST = `127.0.0.1:5000/hello@sha256:${'b'.repeat(64)}`;

const DEPLOYMENT = (opts: { image?: string; replicas?: number; limits?: string; requests?: string; name?: string } = {}) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${opts.name ?? 'hello'}
  labels: { app: ${opts.name ?? 'hello'} }
spec:
  replicas: ${opts.replicas ?? 1}
  selector: { matchLabels: { app: ${opts.name ?? 'hello'} } }
  template:
    metadata: { labels: { app: ${opts.name ?? 'hello'} } }
    spec:
      initContainers:
        - name: migrate
          image: ${opts.image ?? '127.0.0.1:5000/hello:dev'}
      containers:
        - name: hello
          image: ${opts.image ?? '127.0.0.1:5000/hello:dev'}
          resources:
            requests: { memory: ${opts.requests ?? '8Mi'} }
            limits: { memory: ${opts.limits ?? '32Mi'} }
        - name: sidecar
          image: busybox:1.36
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  selector: { app: hello }
  ports: [{ port: 8080, targetPort: 8080 }]
`;

const servers: FakeKubeServer[] = [];
after(async () => Promise.all(servers.map((s) => s.close())));

async function setup(files: Record<string, string>, yaml: (kubeconfig: string) => string, opts: { contexts?: string[] } = {}) {
  const fake = await FakeKubeServer.start(opts);
  servers.push(fake);
  const dir = await workspace(files);
  const config = await configIn(dir, yaml(fake.kubeconfigPath));
  const events: EngineEvent[] = [];
  // The image stages are not under test: the pushed digest arrives as the push stage's output.
  const engine = await Engine.start(config, { stages: kubeWithPushed({ ref: DIGEST }, '127.0.0.1:5000/hello:tl-1') });
  engine.on((e) => events.push(e));
  after(() => engine.dispose());
  return { fake, dir, config, engine, events };
}

const serviceYaml = (manifests = '[k8s]', extra = '') => (kubeconfig: string) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  hello:
    stage: { dir: out, files: [{ from: bin/hello, to: hello }] }
    image: { repository: 127.0.0.1:5000/hello }
    deploy: { manifests: ${manifests}, readyTimeout: 10s${extra} }
`;

function failure(summary: RunSummary): string {
  return `${summary.error ?? ''}\n${(summary.evidence ?? []).join('\n')}`;
}

describe('deploy from manifests', () => {
  it('creates the objects with server-side apply, injects the pushed digest, waits for ready; a no-op run writes nothing', async () => {
    const { fake, engine } = await setup({ 'bin/hello': 'v1', 'k8s/app.yaml': `${DEPLOYMENT()}---\n${SERVICE}` }, serviceYaml());
    const [first] = await engine.run(['hello']);
    assert.equal(first!.status, 'ok', failure(first!));

    const applies = fake.writes().filter((r) => r.method === 'PATCH');
    assert.deepEqual(applies.map((r) => [r.contentType, r.query.fieldManager, r.path]), [
      ['application/apply-patch+yaml', 'tightloop', '/api/v1/namespaces/default/services/hello'],
      ['application/apply-patch+yaml', 'tightloop', '/apis/apps/v1/namespaces/default/deployments/hello'],
    ]);
    const d = fake.cluster.get('deployments', 'default', 'hello')!;
    const spec = d.spec.template.spec;
    assert.equal(spec.containers[0].image, DIGEST, 'container naming image.repository gets the digest');
    assert.equal(spec.initContainers[0].image, DIGEST, 'initContainer too');
    assert.equal(spec.containers[1].image, 'busybox:1.36', 'other images untouched');
    assert.equal(d.metadata.labels?.['tightloop.dev/service'], 'hello');
    assert.ok((d.metadata.managedFields as { manager: string }[]).some((m) => m.manager === 'tightloop'));
    const ready = first!.records.find((r) => r.stage === 'ready')!;
    assert.equal(ready.status, 'ok');
    assert.match(ready.detail!, /deployment\/hello ready/);

    fake.requests.length = 0;
    const [second] = await engine.run(['hello']);
    assert.equal(second!.status, 'ok', failure(second!));
    assert.equal(fake.writes().length, 0, `no API writes on an unchanged run: ${JSON.stringify(fake.writes())}`);
    assert.equal(second!.records.find((r) => r.stage === 'deploy')!.status, 'skipped');
    assert.equal(second!.records.find((r) => r.stage === 'ready')!.status, 'skipped');
  });

  it('re-applies when a manifest changes with the artifact unchanged, and prunes an object removed from the manifests', async () => {
    const { fake, engine, dir } = await setup({ 'bin/hello': 'v1', 'k8s/app.yaml': DEPLOYMENT(), 'k8s/svc.yaml': SERVICE }, serviceYaml());
    assert.equal((await engine.run(['hello']))[0]!.status, 'ok');
    // Someone else's Service with a name Tightloop never applied must survive pruning.
    fake.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'other', namespace: 'default' }, spec: {} } as never);

    await put(dir, 'k8s/app.yaml', DEPLOYMENT({ replicas: 2 }));
    await rm(`${dir}/k8s/svc.yaml`);
    fake.requests.length = 0;
    const [run] = await engine.run(['hello']);
    assert.equal(run!.status, 'ok', failure(run!));
    assert.equal(run!.records.find((r) => r.stage === 'image')!.status, 'skipped', 'the artifact did not change');
    assert.equal(fake.cluster.get('deployments', 'default', 'hello')!.spec.replicas, 2);
    assert.equal(fake.cluster.get('services', 'default', 'hello'), undefined, 'removed from the manifests: pruned');
    assert.ok(fake.cluster.get('services', 'default', 'other'), 'never applied by Tightloop: untouched');
    assert.match(run!.records.find((r) => r.stage === 'deploy')!.detail!, /pruned Service\/hello/);
  });

  it('names the file, document, line, object and field when the API server rejects an object (422)', async () => {
    const { fake, engine } = await setup({ 'bin/hello': 'v1', 'k8s/app.yaml': `${SERVICE}---\n${DEPLOYMENT({ requests: '64Mi', limits: '32Mi' })}` }, serviceYaml());
    const [run] = await engine.run(['hello']);
    assert.equal(run!.status, 'failed');
    assert.equal(run!.failedStage, 'deploy');
    assert.match(run!.error!, /^deploy: k8s\/app\.yaml document 2 \(line 9\): Deployment\/hello was rejected by the API server: spec\.template\.spec\.containers\[0\]\.resources\.requests: Invalid value: "64Mi": must be less than or equal to memory limit of 32Mi\.$/);
    assert.doesNotMatch(run!.error!, /HTTP-Code|Body:/);
    assert.equal(fake.cluster.get('deployments', 'default', 'hello'), undefined);
  });

  it('reports bad YAML, a non-object and an unknown kind with file, document and line, before any write', async () => {
    const cases: [string, RegExp][] = [
      [`${SERVICE}---\nkind: [unclosed\n`, /k8s\/app\.yaml document 2 \(line \d+\) is not valid YAML/],
      [`${SERVICE}---\n- just\n- a list\n`, /k8s\/app\.yaml document 2 \(line 9\) is not a Kubernetes object/],
      [`${SERVICE}---\napiVersion: v1\nkind: Service\n`, /document 2 \(line 9\) is not a Kubernetes object: metadata\.name missing/],
      [`${SERVICE}---\napiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\n`, /k8s\/app\.yaml document 2 \(line 9\): Widget\/w: unknown kind Widget in example\.com\/v1/],
    ];
    for (const [text, expected] of cases) {
      const { fake, engine } = await setup({ 'bin/hello': 'v1', 'k8s/app.yaml': text }, serviceYaml());
      const [run] = await engine.run(['hello']);
      assert.equal(run!.status, 'failed', text);
      assert.match(run!.error!, expected);
      assert.equal(fake.writes().length, 0, `nothing applied for ${expected}`);
    }
  });

  it('stops at a conflict with another field manager, naming it; takes over only the injected image', async () => {
    const { fake, engine } = await setup({ 'bin/hello': 'v1', 'k8s/app.yaml': DEPLOYMENT({ replicas: 1 }) }, serviceYaml());
    // kubectl apply --server-side owns replicas (3) and the image, as a teammate's apply would.
    const other = JSON.parse(JSON.stringify((await import('yaml')).parse(DEPLOYMENT({ replicas: 3 }))));
    other.metadata.namespace = 'default';
    const res = await fetch(`${fake.url}/apis/apps/v1/namespaces/default/deployments/hello?fieldManager=kubectl`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${fake.token}`, 'content-type': 'application/apply-patch+yaml' },
      body: JSON.stringify(other),
    });
    assert.equal(res.status, 201);
    const [run] = await engine.run(['hello']);
    assert.equal(run!.status, 'failed');
    assert.match(run!.error!, /Deployment\/hello conflicts with another field manager: \.spec\.replicas \(kubectl\) is managed by "kubectl"/);
    assert.doesNotMatch(run!.error!, /image/, 'the image is Tightloop\'s to set: not a reported conflict');
    assert.match(run!.hint!, /--force-conflicts --field-manager tightloop/);
    assert.equal(fake.cluster.get('deployments', 'default', 'hello')!.spec.replicas, 3, 'nothing forced');
  });

  it('forces the conflict when only the injected image belongs to another manager', async () => {
    const { fake, engine } = await setup({ 'bin/hello': 'v1', 'k8s/app.yaml': DEPLOYMENT() }, serviceYaml());
    const other = (await import('yaml')).parse(DEPLOYMENT());
    other.metadata.namespace = 'default';
    await fetch(`${fake.url}/apis/apps/v1/namespaces/default/deployments/hello?fieldManager=kubectl`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${fake.token}`, 'content-type': 'application/apply-patch+yaml' },
      body: JSON.stringify(other),
    });
    const [run] = await engine.run(['hello']);
    assert.equal(run!.status, 'ok', failure(run!));
    const applies = fake.writes().filter((r) => r.query.fieldManager === 'tightloop');
    assert.deepEqual(applies.map((r) => r.query.force ?? 'false'), ['false', 'true']);
    assert.equal(fake.cluster.get('deployments', 'default', 'hello')!.spec.template.spec.containers[0].image, DIGEST);
  });
});
