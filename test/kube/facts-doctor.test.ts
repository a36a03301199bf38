import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { detectFlavor, loadKubeConfig, parseLocalRegistryHosting } from '../../src/engine/kube/index.js';
import { StageError } from '../../src/engine/stages/stage.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { makeConfig, startCluster, stagesFor } from './helpers.js';

/** Cluster facts for the image stages, doctor checks, and kubectl-style kubeconfig resolution. */

const KIND_REGISTRY = `host: "localhost:5001"
hostFromContainerRuntime: "kind-registry:5000"
hostFromClusterNetwork: "kind-registry:5000"
help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
`;

describe('cluster facts', () => {
  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  it('reads the local-registry-hosting ConfigMap, node architectures and the kind cluster name', async () => {
    const fake = await startCluster([], { contexts: ['kind-dev'], nodes: [{ name: 'dev-control-plane', arch: 'amd64' }, { name: 'dev-worker', arch: 'arm64' }] });
    servers.push(fake);
    fake.cluster.addConfigMap('kube-public', 'local-registry-hosting', { 'localRegistryHosting.v1': KIND_REGISTRY });
    const provider = stagesFor(makeConfig(fake.kubeconfigPath)).cluster!;
    const facts = await provider.facts(new AbortController().signal);
    assert.deepEqual(facts, {
      context: 'kind-dev',
      flavor: 'kind',
      sharesDockerDaemon: false,
      localRegistry: { host: 'localhost:5001', hostFromContainerRuntime: 'kind-registry:5000', hostFromClusterNetwork: 'kind-registry:5000', help: 'https://kind.sigs.k8s.io/docs/user/local-registry/' },
      nodeArchitectures: ['amd64', 'arm64'],
      kindClusterName: 'dev',
    });
    const requests = fake.requests.length;
    await provider.facts(new AbortController().signal);
    assert.equal(fake.requests.length, requests, 'cached: no second round of requests');
    assert.ok(fake.requests.every((r) => r.method === 'GET'), 'facts only read');
  });

  it('docker-desktop with a docker:// runtime shares the daemon; no ConfigMap means no advertised registry', async () => {
    const fake = await startCluster([], { contexts: ['docker-desktop'], nodes: [{ name: 'docker-desktop', runtime: 'docker://27.3.1', arch: 'arm64' }] });
    servers.push(fake);
    const facts = await stagesFor(makeConfig(fake.kubeconfigPath)).cluster!.facts(new AbortController().signal);
    assert.deepEqual(facts, { context: 'docker-desktop', flavor: 'docker-desktop', sharesDockerDaemon: true, nodeArchitectures: ['arm64'] });
  });

  it('detects the flavour from node traits when the context was renamed', () => {
    const node = (name: string, extra: object = {}) => ({ metadata: { name, labels: {} }, ...extra });
    assert.deepEqual(detectFlavor('work', [node('x', { spec: { providerID: 'kind://docker/dev/dev-control-plane' } })]), { flavor: 'kind', kindClusterName: 'dev' });
    assert.deepEqual(detectFlavor('work', [{ metadata: { name: 'm', labels: { 'minikube.k8s.io/name': 'minikube' } } }]), { flavor: 'minikube' });
    assert.deepEqual(detectFlavor('work', [node('k3d-dev-server-0', { status: { nodeInfo: { kubeletVersion: 'v1.31.4+k3s1' } } })]), { flavor: 'k3d' });
    assert.deepEqual(detectFlavor('k3d-dev', []), { flavor: 'k3d' });
    assert.deepEqual(detectFlavor('gke_prod', [node('gke-node-1')]), { flavor: 'unknown' });
  });

  it('parses localRegistryHosting.v1 defensively', () => {
    assert.deepEqual(parseLocalRegistryHosting('host: "localhost:5000"\n'), { host: 'localhost:5000' });
    assert.equal(parseLocalRegistryHosting(undefined), undefined);
    assert.equal(parseLocalRegistryHosting('help: only help\n'), undefined);
    assert.equal(parseLocalRegistryHosting(': : not yaml ['), undefined);
  });
});

describe('doctor checks', () => {
  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close().catch(() => {}))));
  const runAll = async (config: ReturnType<typeof makeConfig>) => {
    const checks = stagesFor(config).doctor!;
    return (await Promise.all(checks.map((c) => c.run(config, new AbortController().signal)))).flat();
  };

  it('all green against a reachable, allowed cluster with the workload present', async () => {
    const fake = await startCluster();
    servers.push(fake);
    const results = await runAll(makeConfig(fake.kubeconfigPath));
    assert.deepEqual(results.map((r) => [r.check, r.status]), [
      ['kubeconfig', 'ok'],
      ['context allowed', 'ok'],
      ['API reachable', 'ok'],
      ['workloads', 'ok'],
    ]);
    assert.match(results[2]!.message, /answered v1\.31\.0-fake in \d+ ms/);
    assert.match(results[3]!.message, /deployment\/api in default, container api/);
  });

  it('live update: says whether exec into pods is allowed (SelfSubjectAccessReview)', async () => {
    const fake = await startCluster();
    servers.push(fake);
    const config = makeConfig(fake.kubeconfigPath);
    config.services.api!.live = { sync: [{ from: 'server', to: '/app/server' }], action: 'restart', signal: 1, fallBackOn: [], maxDeltaBytes: 1e6, graceMs: 1000, listenTimeoutMs: 1000 };
    const live = async () => (await runAll(config)).find((r) => r.check === 'live update')!;
    assert.equal((await live()).status, 'ok');
    fake.exec.forbidden = true;
    const denied = await live();
    assert.equal(denied.status, 'warn');
    assert.match(denied.message, /may not exec into pods in default \(create pods\/exec is denied.*\); live updates will fall back to a full rollout/);
  });

  it('reports a refused context, a missing workload and an unreachable API', async () => {
    const fake = await startCluster([], { contexts: ['prod'] });
    servers.push(fake);
    let results = await runAll(makeConfig(fake.kubeconfigPath));
    assert.deepEqual(results.map((r) => [r.check, r.status]), [
      ['kubeconfig', 'ok'],
      ['context allowed', 'fail'],
      ['API reachable', 'ok'],
      ['workloads', 'fail'],
    ]);
    assert.match(results[1]!.message, /prod is not in kubernetes\.allowContexts/);
    assert.match(results[3]!.message, /deployment\/api in namespace default: it does not exist/);

    await fake.close();
    const started = Date.now();
    results = await runAll(makeConfig(fake.writeKubeconfig(path.join(mkdtempSync(path.join(tmpdir(), 'doc-')), 'kc'), ['kind-x'])));
    const api = results.find((r) => r.check === 'API reachable')!;
    assert.equal(api.status, 'fail');
    assert.match(api.message, /did not answer within 3s: .*ECONNREFUSED/);
    assert.ok(Date.now() - started < 5000, 'bounded');
  });

  it('no kubeconfig at all fails the first check with a hint', async () => {
    const results = await runAll(makeConfig('/nonexistent/kubeconfig'));
    assert.equal(results[0]!.status, 'fail');
    assert.match(results[0]!.message, /No kubeconfig found \(looked at \/nonexistent\/kubeconfig\)\. Create a local cluster/);
  });
});

describe('kubeconfig resolution (kubectl rules)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kc-'));
  const file = (name: string, contexts: { name: string; server: string }[], current?: string) => {
    const p = path.join(dir, name);
    writeFileSync(
      p,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        ...contexts.flatMap((c) => [`- name: ${c.name}`, '  cluster:', `    server: ${c.server}`]),
        'users:',
        ...contexts.flatMap((c) => [`- name: ${c.name}`, '  user:', '    token: t']),
        'contexts:',
        ...contexts.flatMap((c) => [`- name: ${c.name}`, '  context:', `    cluster: ${c.name}`, `    user: ${c.name}`]),
        ...(current ? [`current-context: ${current}`] : []),
      ].join('\n'),
    );
    return p;
  };
  const k8s = { allowContexts: [], namespace: 'default' };

  it('merges the KUBECONFIG list: first file to define a name wins, first current-context wins', () => {
    const a = file('a', [{ name: 'kind-a', server: 'https://a:6443' }, { name: 'shared', server: 'https://from-a:6443' }]);
    const b = file('b', [{ name: 'kind-b', server: 'https://b:6443' }, { name: 'shared', server: 'https://from-b:6443' }], 'kind-b');
    const c = file('c', [{ name: 'kind-c', server: 'https://c:6443' }], 'kind-c');
    const env = { KUBECONFIG: [a, path.join(dir, 'missing'), b, c].join(path.delimiter) };
    const loaded = loadKubeConfig(k8s, dir, { env });
    assert.equal(loaded.context, 'kind-b');
    assert.equal(loaded.server, 'https://b:6443');
    assert.deepEqual(loaded.files, [a, b, c]);
    assert.equal(loadKubeConfig({ ...k8s, context: 'shared' }, dir, { env }).server, 'https://from-a:6443');
  });

  it('kubernetes.kubeconfig (relative to the config folder) overrides KUBECONFIG; errors name what is missing', () => {
    file('own', [{ name: 'kind-own', server: 'https://own:6443' }], 'kind-own');
    const loaded = loadKubeConfig({ ...k8s, kubeconfig: 'own' }, dir, { env: { KUBECONFIG: '/nope' } });
    assert.equal(loaded.context, 'kind-own');
    assert.throws(() => loadKubeConfig({ ...k8s, kubeconfig: 'own', context: 'other' }, dir), (e: unknown) => e instanceof StageError && /Context "other" is not defined/.test(e.message) && /kind-own/.test(e.options.hint ?? ''));
    assert.throws(() => loadKubeConfig(k8s, dir, { env: {}, homeDir: dir }), (e: unknown) => e instanceof StageError && e.message.includes(path.join(dir, '.kube', 'config')));
    const noCurrent = file('nocurrent', [{ name: 'x', server: 'https://x:6443' }]);
    assert.throws(() => loadKubeConfig({ ...k8s, kubeconfig: noCurrent }, dir), /has no current context/);
  });
});
