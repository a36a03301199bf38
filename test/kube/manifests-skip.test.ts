import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { kubeWithPushed } from './helpers.js';
import type { RunSummary } from '../../src/engine/types.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { configIn, put, workspace } from '../helpers/workspace.js';

/**
 * When a deploy from manifests may skip the apply, and when it must not: the skip is keyed by the
 * manifests' bytes, the injected image and the cluster target (context and API server), and it is
 * never taken with --force, after a `down` from another engine, or on another cluster that has
 * the same context name. The render command's output is reused only while its declared inputs
 * (render.watch) are unchanged. Real client-node against the fake API server.
 */

const DIGEST = (n: number) => `127.0.0.1:5000/hello@sha256:${String(n).repeat(64).slice(0, 64)}`;

const DEPLOYMENT = (replicas = 1) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: hello } }
  template:
    metadata: { labels: { app: hello } }
    spec:
      containers:
        - name: hello
          image: 127.0.0.1:5000/hello:dev
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  selector: { app: hello }
  ports: [{ port: 8080, targetPort: 8080 }]
`;
const REDIS = `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: redis }
spec:
  serviceName: redis
  replicas: 1
  selector: { matchLabels: { app: redis } }
  template:
    metadata: { labels: { app: redis } }
    spec:
      containers: [{ name: redis, image: "redis:7" }]
`;

const servers: FakeKubeServer[] = [];
after(async () => Promise.all(servers.map((s) => s.close())));

async function fakeCluster(): Promise<FakeKubeServer> {
  const fake = await FakeKubeServer.start();
  servers.push(fake);
  return fake;
}

/** An engine on `dir`; the "pushed" image is whatever `pushed.ref` holds when push runs. */
async function engineOn(dir: string, yaml: string, pushed = { ref: DIGEST(1) }): Promise<Engine> {
  const config = await configIn(dir, yaml);
  // The image stages are not under test: the pushed digest arrives as the push stage's output.
  const engine = await Engine.start(config, { stages: kubeWithPushed(pushed, '127.0.0.1:5000/hello:tl-1') });
  after(() => engine.dispose());
  return engine;
}

const serviceYaml = (kubeconfig: string) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  hello:
    stage: { dir: out, files: [{ from: bin/hello, to: hello }] }
    image: { repository: 127.0.0.1:5000/hello }
    deploy: { manifests: [k8s], readyTimeout: 10s }
`;

const applies = (fake: FakeKubeServer) => fake.writes().filter((r) => r.contentType === 'application/apply-patch+yaml').map((r) => r.path);
const status = (run: RunSummary | undefined, stage: string) => run?.records.find((r) => r.stage === stage)?.status;
const ok = (run: RunSummary | undefined) => assert.equal(run?.status, 'ok', `${run?.error}\n${(run?.evidence ?? []).join('\n')}`);

describe('deploy from manifests: when the apply is skipped', () => {
  it('--force applies identical manifests again and waits for ready', async () => {
    const fake = await fakeCluster();
    const dir = await workspace({ 'bin/hello': 'v1', 'k8s/app.yaml': `${DEPLOYMENT()}---\n${SERVICE}` });
    const engine = await engineOn(dir, serviceYaml(fake.kubeconfigPath));
    ok((await engine.run(['hello']))[0]);

    fake.requests.length = 0;
    const [same] = await engine.run(['hello']);
    ok(same);
    assert.equal(status(same, 'deploy'), 'skipped');
    assert.deepEqual(applies(fake), []);

    const [forced] = await engine.run(['hello'], { force: true });
    ok(forced);
    assert.equal(status(forced, 'deploy'), 'ok', 'forced: applied although nothing changed');
    assert.equal(status(forced, 'ready'), 'ok');
    assert.deepEqual(applies(fake), ['/api/v1/namespaces/default/services/hello', '/apis/apps/v1/namespaces/default/deployments/hello']);

    // And the forced apply is the new "last apply": the next plain run skips again.
    fake.requests.length = 0;
    const [after] = await engine.run(['hello']);
    ok(after);
    assert.equal(status(after, 'deploy'), 'skipped');
    assert.deepEqual(applies(fake), []);
  });

  it('a new image with the same manifests is applied; a comment-only edit is not', async () => {
    const fake = await fakeCluster();
    const dir = await workspace({ 'bin/hello': 'v1', 'k8s/app.yaml': DEPLOYMENT() });
    const pushed = { ref: DIGEST(1) };
    const engine = await engineOn(dir, serviceYaml(fake.kubeconfigPath), pushed);
    ok((await engine.run(['hello']))[0]);

    await put(dir, 'bin/hello', 'v2');
    pushed.ref = DIGEST(2);
    fake.requests.length = 0;
    const [rebuilt] = await engine.run(['hello']);
    ok(rebuilt);
    assert.deepEqual(applies(fake), ['/apis/apps/v1/namespaces/default/deployments/hello']);
    assert.equal(fake.cluster.get('deployments', 'default', 'hello')!.spec.template.spec.containers[0].image, DIGEST(2));

    await put(dir, 'k8s/app.yaml', `# the app\n${DEPLOYMENT()}`);
    fake.requests.length = 0;
    const [comment] = await engine.run(['hello']);
    ok(comment);
    assert.equal(status(comment, 'deploy'), 'skipped');
    assert.match(comment!.records.find((r) => r.stage === 'deploy')!.detail!, /1 object identical to the last apply/);
    assert.deepEqual(applies(fake), []);

    const [again] = await engine.run(['hello']);
    assert.match(again!.records.find((r) => r.stage === 'deploy')!.detail!, /manifests unchanged since the last apply/);
  });

  it('after a `down` by another engine on the same project, the next run applies again', async () => {
    const fake = await fakeCluster();
    const dir = await workspace({ 'bin/hello': 'v1', 'k8s/app.yaml': DEPLOYMENT() });
    const yaml = serviceYaml(fake.kubeconfigPath);
    const editor = await engineOn(dir, yaml);
    ok((await editor.run(['hello']))[0]);

    // `tightloop down` in a terminal while the editor's engine keeps running.
    const cli = await engineOn(dir, yaml);
    await cli.down(['hello']);
    await cli.dispose();
    assert.equal(fake.cluster.get('deployments', 'default', 'hello'), undefined);

    fake.requests.length = 0;
    const [run] = await editor.run(['hello']);
    ok(run);
    assert.equal(status(run, 'deploy'), 'ok');
    assert.deepEqual(applies(fake), ['/apis/apps/v1/namespaces/default/deployments/hello']);
    assert.ok(fake.cluster.get('deployments', 'default', 'hello'), 'deployed again');
  });

  it('another cluster behind the same context name gets the objects', async () => {
    const first = await fakeCluster();
    const second = await fakeCluster();
    const dir = await workspace({ 'bin/hello': 'v1', 'k8s/app.yaml': DEPLOYMENT() });
    // One kubeconfig file, context kind-fake in both; only the server URL changes (a recreated cluster).
    const kubeconfig = path.join(dir, 'kubeconfig');
    first.writeKubeconfig(kubeconfig);
    const before = await engineOn(dir, serviceYaml(kubeconfig));
    ok((await before.run(['hello']))[0]);
    await before.dispose();

    second.writeKubeconfig(kubeconfig);
    assert.notEqual(first.url, second.url);
    const after = await engineOn(dir, serviceYaml(kubeconfig));
    const [run] = await after.run(['hello']);
    ok(run);
    assert.equal(status(run, 'deploy'), 'ok');
    assert.ok(second.cluster.get('deployments', 'default', 'hello'), 'applied to the new server');
  });
});

describe('deploy from manifests: render output reuse', () => {
  const renderYaml = (kubeconfig: string, watch: string) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  placeholder: { compile: { command: "true" } }
resources:
  redis:
    render: { command: "sh render.sh", ${watch} }
`;
  // Counts its own runs in a file outside every watched path.
  const RENDER = 'echo x >> renders.count\ncat db/redis.yaml\n';
  const renders = async (dir: string) => (await readFile(path.join(dir, 'renders.count'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

  it('with render.watch, runs the command again only when a watched file changes, or with --force', async () => {
    const fake = await fakeCluster();
    const dir = await workspace({ 'render.sh': RENDER, 'db/redis.yaml': REDIS });
    const engine = await engineOn(dir, renderYaml(fake.kubeconfigPath, 'watch: [db, render.sh]'));
    ok((await engine.run(['redis']))[0]);
    assert.equal(await renders(dir), 1);

    fake.requests.length = 0;
    const [same] = await engine.run(['redis']);
    ok(same);
    assert.equal(await renders(dir), 1, 'inputs unchanged: the last output is reused');
    assert.equal(status(same, 'deploy'), 'skipped');
    assert.deepEqual(applies(fake), []);

    await put(dir, 'db/redis.yaml', REDIS.replace('replicas: 1', 'replicas: 2'));
    const [changed] = await engine.run(['redis']);
    ok(changed);
    assert.equal(await renders(dir), 2, 'a watched file changed: rendered again');
    assert.equal(fake.cluster.get('statefulsets', 'default', 'redis')!.spec.replicas, 2);

    const [forced] = await engine.run(['redis'], { force: true });
    ok(forced);
    assert.equal(await renders(dir), 3, '--force renders');
  });

  it('without render.watch, runs the command on every run', async () => {
    const fake = await fakeCluster();
    const dir = await workspace({ 'render.sh': RENDER, 'db/redis.yaml': REDIS });
    const engine = await engineOn(dir, renderYaml(fake.kubeconfigPath, 'timeout: 30s'));
    ok((await engine.run(['redis']))[0]);
    ok((await engine.run(['redis']))[0]);
    assert.equal(await renders(dir), 2);
  });
});
