import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ResolvedConfig } from '../../src/engine/config/resolved.js';
import { decideDelivery } from '../../src/engine/docker/delivery.js';
import { Engine } from '../../src/engine/engine.js';
import { createKubeStages } from '../../src/engine/kube/index.js';
import { StageError } from '../../src/engine/stages/stage.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { configIn, workspace } from '../helpers/workspace.js';
import { deployment, makeConfig, makeCtx, startCluster } from './helpers.js';

/**
 * The allow-list guards every cluster-side effect, early: a service that deploys to a context
 * outside kubernetes.allowContexts is refused before its compile, and the Docker side never pushes
 * to that cluster's advertised registry nor `kind load`s into its nodes. Against the fake API server.
 */

const REFUSAL = 'Context "prod-eu" is not in kubernetes.allowContexts, so Tightloop will not change anything in it.';
const servers: FakeKubeServer[] = [];
after(async () => Promise.all(servers.map((s) => s.close())));

describe('the allow-list is checked before anything runs for a refused context', () => {
  const yaml = (kubeconfig: string, allow = '') => `version: 1
kubernetes: { kubeconfig: ${kubeconfig}${allow} }
services:
  api:
    compile: { command: "echo built > compiled" }
    deploy: { workload: deployment/api }
`;

  async function engineFor(dir: string, config: ResolvedConfig) {
    const engine = await Engine.start(config, { stages: (c, hooks) => createKubeStages(c, { env: {}, homeDir: tmpdir(), logSink: hooks.log }) });
    after(() => engine.dispose());
    return engine;
  }

  it('a service that deploys to a refused context fails before its compile: nothing runs, not one request', async () => {
    const fake = await startCluster([deployment()], { contexts: ['prod-eu'] });
    servers.push(fake);
    const dir = await workspace();
    const engine = await engineFor(dir, await configIn(dir, yaml(fake.kubeconfigPath)));
    const [run] = await engine.run(['api']);
    assert.equal(run!.status, 'failed');
    assert.equal(run!.error, `deploy: ${REFUSAL}`);
    assert.match(run!.hint!, /allowContexts: \[.*"prod-eu"\]/);
    assert.deepEqual(run!.records.map((r) => `${r.stage}:${r.status}`), ['trigger:ok', 'deploy:failed']);
    assert.equal(existsSync(path.join(dir, 'compiled')), false, 'the compile never ran');
    assert.equal(fake.requests.length, 0, 'not even a read');

    // Allowed: the same service compiles and deploys.
    const allowedDir = await workspace();
    const allowed = await engineFor(allowedDir, await configIn(allowedDir, yaml(fake.kubeconfigPath, ', allowContexts: ["prod-*"]')));
    const [ok] = await allowed.run(['api']);
    assert.equal(existsSync(path.join(allowedDir, 'compiled')), true);
    assert.notEqual(ok!.error, `deploy: ${REFUSAL}`);
  });
});

describe("delivery never changes a refused context's cluster", () => {
  const REGISTRY = 'host: "localhost:5001"\nhostFromContainerRuntime: "kind-registry:5000"\n';

  async function deliveryFor(contexts: string[], docker: Partial<ResolvedConfig['docker']>, registry = true) {
    const fake = await startCluster([], { contexts, nodes: [{ name: 'n1', arch: 'amd64' }] });
    servers.push(fake);
    if (registry) fake.cluster.addConfigMap('kube-public', 'local-registry-hosting', { 'localRegistryHosting.v1': REGISTRY });
    const config = makeConfig(fake.kubeconfigPath);
    config.docker = { delivery: 'auto', ...docker };
    // An image and no deploy: a push alone is a change to the cluster whose registry it is.
    config.services.api = { ...config.services.api!, deploy: undefined, image: { repository: 'api', platform: 'linux/amd64' } as never };
    const kube = createKubeStages(config, { env: {}, homeDir: tmpdir() });
    const ctx = { ...makeCtx(config), cluster: kube.cluster };
    const decided = decideDelivery(ctx, config, 5000);
    return { fake, decided };
  }

  for (const [label, docker, registry] of [
    ['the registry it advertises (auto)', {}, true],
    ['the registry it advertises (delivery: push)', { delivery: 'push' }, true],
    ['kind load into its nodes (delivery: kind-load)', { delivery: 'kind-load' }, false],
  ] as const) {
    it(`refuses ${label} with the deploy sentence; reads only`, async () => {
      const { fake, decided } = await deliveryFor(['prod-eu'], docker, registry);
      await assert.rejects(decided, (error: unknown) => error instanceof StageError && error.message === REFUSAL);
      assert.equal(fake.writes().length, 0);
    });
  }

  it('an allowed context gets its advertised registry, and docker.registry (the user’s own) needs no allowed context', async () => {
    const allowed = await deliveryFor(['kind-dev'], {});
    assert.equal((await allowed.decided).mode, 'push');
    const own = await deliveryFor(['prod-eu'], { registry: '127.0.0.1:5000' });
    const decided = await own.decided;
    assert.equal(decided.mode === 'push' && decided.registry, '127.0.0.1:5000');
  });
});
