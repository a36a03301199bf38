import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { Engine } from '../../src/engine/engine.js';
import { createIntegrations } from '../../src/engine/integrations.js';
import type { RunSummary, StageName } from '../../src/engine/types.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import * as h from './helpers.js';

/**
 * examples/hello-service, end to end on real parts: gcc, the real Docker engine and registry, the
 * real client-node against the fake API server, which starts empty — the example's own k8s/
 * folder is what creates the Deployment and Service (no kubectl apply first). Then `--force` on a
 * run where nothing changed must do every step again: build (the tag exists), push (the registry
 * has it) and apply (the objects are identical).
 */

before(() => h.ensureServices());

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const status = (run: RunSummary, stage: StageName) => run.records.find((r) => r.stage === stage);
const ok = (run: RunSummary | undefined) => assert.equal(run?.status, 'ok', `${run?.error}\n${(run?.evidence ?? []).join('\n')}`);

async function exampleCopy(engineBuild: boolean) {
  const fake = await FakeKubeServer.start();
  const dir = await h.tempDir('tl-example-');
  await cp(path.join(h.REPO_ROOT, 'examples/hello-service'), dir, { recursive: true, filter: (src) => !/^(build|build_artifacts|\.tightloop)$/.test(path.basename(src)) });
  const name = h.uniqueName('example');
  const repository = `${h.REGISTRY}/tl-test/${name}`;
  // The example's own files, pointed at this test's cluster and at a repository of its own.
  const configFile = path.join(dir, 'tightloop.yaml');
  const config = parse(await readFile(configFile, 'utf8'));
  config.kubernetes = { ...config.kubernetes, kubeconfig: fake.kubeconfigPath };
  config.docker = { ...config.docker, delivery: 'push' };
  config.services.hello.image.repository = repository;
  delete config.tasks;
  await writeFile(configFile, stringify(config));
  const manifest = path.join(dir, 'k8s/hello.yaml');
  await writeFile(manifest, (await readFile(manifest, 'utf8')).replaceAll('127.0.0.1:5000/hello:initial', `${repository}:initial`));

  const engine = await Engine.create(configFile, {
    stages: async (c, hooks) => {
      const set = await createIntegrations(c, hooks);
      if (!engineBuild) return set;
      // TIGHTLOOP_ENGINE_BUILD=1 for this engine only: the builder in the Docker engine and `docker push`.
      const docker = createDockerStages(c, { env: { ...process.env, TIGHTLOOP_ENGINE_BUILD: '1' }, cluster: set.cluster });
      return { ...set, image: docker.image, push: docker.push, dispose: async () => void (await Promise.all([set.dispose?.(), docker.dispose()])) };
    },
  });
  const pushed: string[] = [];
  cleanups.push(async () => {
    await engine.dispose();
    await fake.close();
    await h.deleteFromRegistry(pushed);
    await h.removeImages('hello', pushed);
    await h.rm(dir, { recursive: true, force: true });
  });
  return { fake, engine, repository, pushed };
}

describe('examples/hello-service from its manifests', () => {
  for (const engineBuild of [false, true]) {
    const path_ = engineBuild ? 'engine build and docker push' : 'direct push';
    it(`deploys from k8s/ into an empty cluster; --force builds, pushes and applies again (${path_})`, async () => {
      const { fake, engine, repository, pushed } = await exampleCopy(engineBuild);
      assert.equal(fake.cluster.get('deployments', 'default', 'hello'), undefined, 'nothing applied beforehand');

      const [first] = await engine.run(['hello']);
      ok(first);
      const deployRef = first!.image!;
      pushed.push(deployRef);
      assert.match(deployRef, new RegExp(`^${repository.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@sha256:[0-9a-f]{64}$`));
      const live = fake.cluster.get('deployments', 'default', 'hello')!;
      assert.equal(live.spec.template.spec.containers[0].image, deployRef, 'the pushed digest is injected');
      assert.ok(fake.cluster.get('services', 'default', 'hello'), 'the Service from k8s/ too');
      assert.equal(status(first!, 'ready')?.status, 'ok');

      fake.requests.length = 0;
      const [same] = await engine.run(['hello']);
      ok(same);
      for (const stage of ['image', 'push', 'deploy', 'ready'] as const) assert.equal(status(same!, stage)?.status, 'skipped', `${stage}: nothing changed`);
      assert.equal(fake.writes().length, 0);

      const [forced] = await engine.run(['hello'], { force: true });
      ok(forced);
      for (const stage of ['compile', 'staging', 'image', 'push', 'deploy', 'ready'] as const) {
        assert.equal(status(forced!, stage)?.status, 'ok', `${stage} with --force: ${status(forced!, stage)?.detail}`);
      }
      assert.doesNotMatch(status(forced!, 'image')!.detail!, /already/);
      assert.match(status(forced!, 'push')!.detail!, /^pushed to /);
      assert.equal(forced!.image, deployRef, 'the same bytes: the same digest');
      assert.deepEqual(
        fake.writes().filter((r) => r.contentType === 'application/apply-patch+yaml').map((r) => r.path),
        ['/api/v1/namespaces/default/services/hello', '/apis/apps/v1/namespaces/default/deployments/hello'],
      );
    });
  }
});
