import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { createKubeStages } from '../../src/engine/kube/index.js';
import type { EngineEvent, RunSummary } from '../../src/engine/types.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { configIn, put, workspace } from '../helpers/workspace.js';

/**
 * Resources without a build (top-level `resources:`), Jobs and bare Pods as workloads, render
 * commands, and `down` — through the engine, against the fake API server.
 */

const servers: FakeKubeServer[] = [];
after(async () => Promise.all(servers.map((s) => s.close())));

async function setup(files: Record<string, string>, yaml: (kubeconfig: string) => string, opts: { contexts?: string[] } = {}) {
  const fake = await FakeKubeServer.start(opts);
  servers.push(fake);
  const dir = await workspace(files);
  const config = await configIn(dir, yaml(fake.kubeconfigPath));
  const events: EngineEvent[] = [];
  const engine = await Engine.start(config, {
    stages: (c, hooks) => createKubeStages(c, { env: {}, homeDir: tmpdir(), logSink: hooks.log, watchRetry: { attempts: 3, baseDelayMs: 50 } }),
  });
  engine.on((e) => events.push(e));
  after(() => engine.dispose());
  return { fake, dir, config, engine, events };
}

const STATEFUL = (name: string, port: number) => `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: ${name} }
spec:
  serviceName: ${name}
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers: [{ name: ${name}, image: "${name}:16", ports: [{ containerPort: ${port} }] }]
`;
const JOB = `apiVersion: batch/v1
kind: Job
metadata: { name: migrate }
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{ name: migrate, image: "migrate:1" }]
`;
const POD = `apiVersion: v1
kind: Pod
metadata: { name: toolbox, labels: { app: toolbox } }
spec:
  containers: [{ name: toolbox, image: "busybox:1.36" }]
`;
const NAMESPACE = `apiVersion: v1
kind: Namespace
metadata: { name: shop }
`;

const failure = (s: RunSummary) => `${s.error ?? ''}\n${(s.evidence ?? []).join('\n')}`;

describe('resources without a build', () => {
  it('applies resources in dependency order, waits for a StatefulSet, a Job to complete and a Pod, then runs the readiness command', async () => {
    const { fake, engine, events } = await setup(
      { 'db/pg.yaml': STATEFUL('postgres', 5432), 'jobs/migrate.yaml': JOB, 'tools/pod.yaml': POD },
      (kubeconfig) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  placeholder:
    compile: { command: "true" }
resources:
  postgres:
    manifests: [db]
    readiness: { command: "test -n ok", timeout: 5s }
  migrate:
    manifests: ["jobs/*.yaml"]
    dependsOn: [postgres]
  toolbox:
    manifests: [tools/pod.yaml]
    dependsOn: [migrate]
`,
    );
    const [run] = await engine.run(['toolbox']);
    assert.equal(run!.status, 'ok', failure(run!));
    const finished = events.filter((e): e is Extract<EngineEvent, { type: 'run-finished' }> => e.type === 'run-finished').map((e) => e.summary);
    assert.deepEqual(finished.map((s) => [s.service, s.status]), [['postgres', 'ok'], ['migrate', 'ok'], ['toolbox', 'ok']]);
    assert.match(finished[0]!.records.find((r) => r.stage === 'ready')!.detail!, /statefulset\/postgres ready, readiness command passed/);
    assert.equal(fake.cluster.get('jobs', 'default', 'migrate')!.status.succeeded, 1, 'ready waited for the Job to complete');
    assert.match(finished[1]!.records.find((r) => r.stage === 'ready')!.detail!, /job\/migrate ready/);
    assert.equal(finished[0]!.records.find((r) => r.stage === 'compile')!.status, 'skipped');
    assert.equal(finished[0]!.records.find((r) => r.stage === 'image')!.status, 'skipped');
  });

  it('fails a resource whose readiness command never succeeds, with its output', async () => {
    const { engine } = await setup({ 'db/pg.yaml': STATEFUL('postgres', 5432) }, (kubeconfig) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  placeholder: { compile: { command: "true" } }
resources:
  postgres:
    manifests: [db]
    readiness: { command: "echo not accepting connections; exit 1", timeout: 300ms }
`);
    const [run] = await engine.run(['postgres']);
    assert.equal(run!.status, 'failed');
    assert.match(run!.error!, /ready: The readiness command "echo not accepting connections; exit 1" did not succeed within/);
    assert.ok(run!.evidence?.includes('not accepting connections'), failure(run!));
  });

  it('renders with a command (stdout is the YAML) and shows the stderr tail when it fails', async () => {
    const { fake, engine, dir } = await setup({ 'render.sh': `echo "rendering" >&2\ncat db/pg.yaml\n`, 'db/pg.yaml': STATEFUL('redis', 6379) }, (kubeconfig) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  placeholder: { compile: { command: "true" } }
resources:
  redis:
    render: { command: "sh render.sh", watch: [db, render.sh] }
`);
    const [ok] = await engine.run(['redis']);
    assert.equal(ok!.status, 'ok', failure(ok!));
    assert.ok(fake.cluster.get('statefulsets', 'default', 'redis'));
    await put(dir, 'render.sh', 'echo "Error: accumulating resources: missing kustomization.yaml" >&2\nexit 3\n');
    const [bad] = await engine.run(['redis']);
    assert.equal(bad!.status, 'failed');
    assert.match(bad!.error!, /deploy: render "sh render.sh" exited with code 3/);
    assert.deepEqual(bad!.evidence, ['Error: accumulating resources: missing kustomization.yaml']);
  });

  it('down deletes what was applied, dependents first, namespace last, waits until gone, and leaves other objects alone', async () => {
    const { fake, engine } = await setup({ 'app/ns.yaml': NAMESPACE, 'app/pg.yaml': STATEFUL('postgres', 5432).replace('name: postgres }', 'name: postgres, namespace: shop }'), 'tools/pod.yaml': POD }, (kubeconfig) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  placeholder: { compile: { command: "true" } }
resources:
  postgres: { manifests: [app] }
  toolbox: { manifests: [tools], dependsOn: [postgres] }
`);
    const runs = await engine.run(['toolbox']);
    assert.equal(runs[0]!.status, 'ok', failure(runs[0]!));
    assert.equal(fake.cluster.get('statefulsets', 'shop', 'postgres')?.metadata.namespace, 'shop');
    // Same name, not applied by Tightloop: must survive.
    fake.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep-me', namespace: 'default', labels: { 'tightloop.dev/service': 'toolbox' } }, data: {} } as never);

    fake.requests.length = 0;
    const results = await engine.down();
    assert.deepEqual(results.map((r) => [r.service, r.deleted]), [
      ['toolbox', ['Pod/toolbox']],
      ['postgres', ['StatefulSet/postgres', 'Namespace/shop']],
    ]);
    const deletes = fake.writes().filter((r) => r.method === 'DELETE').map((r) => r.path);
    assert.deepEqual(deletes, ['/api/v1/namespaces/default/pods/toolbox', '/apis/apps/v1/namespaces/shop/statefulsets/postgres', '/api/v1/namespaces/shop']);
    assert.equal(fake.cluster.get('pods', 'default', 'toolbox'), undefined, 'waited until gone');
    assert.equal(fake.cluster.get('statefulsets', 'shop', 'postgres'), undefined);
    assert.ok(fake.cluster.get('configmaps', 'default', 'keep-me'));

    // Next run applies again (the last apply's hash was forgotten).
    const [again] = await engine.run(['postgres']);
    assert.equal(again!.status, 'ok', failure(again!));
    assert.ok(fake.cluster.get('statefulsets', 'shop', 'postgres'));
  });

  it('down is refused for a context outside allowContexts, before any request', async () => {
    const { fake, engine } = await setup({ 'tools/pod.yaml': POD }, (kubeconfig) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
services:
  placeholder: { compile: { command: "true" } }
resources:
  toolbox: { manifests: [tools] }
`, { contexts: ['prod-eu'] });
    await assert.rejects(engine.down(), /prod-eu/);
    assert.equal(fake.requests.length, 0);
  });
});
