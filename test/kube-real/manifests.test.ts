import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/engine/engine.js';
import { KubeClient } from '../../src/engine/kube/client.js';
import { contextAllowed, createKubeStages, loadKubeConfig } from '../../src/engine/kube/index.js';
import { repositoryOf } from '../../src/engine/kube/manifests/prepare.js';
import type { RunOutputs } from '../../src/engine/stages/stage.js';
import type { RunSummary } from '../../src/engine/types.js';
import { DEFAULT_ALLOW } from '../kube/helpers.js';
import { configIn, put, workspace } from '../helpers/workspace.js';

/**
 * Deploying from manifests on a real cluster, opt-in (TIGHTLOOP_E2E_KUBECONFIG, see
 * docs/real-cluster-tests.md): the first run creates a Namespace, the example's Deployment and
 * Service, and a resource (a second workload) with server-side apply; the injected image is on the
 * live object; an unchanged run writes nothing; an object removed from the manifests is pruned;
 * `down` leaves nothing labelled behind.
 */

const KUBECONFIG = process.env.TIGHTLOOP_E2E_KUBECONFIG;
const skip = KUBECONFIG ? false : 'TIGHTLOOP_E2E_KUBECONFIG is not set (see docs/real-cluster-tests.md)';
const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE = readFileSync(path.join(here, '../../examples/hello-service/k8s/hello.yaml'), 'utf8');

describe('real cluster: deploy from manifests (opt-in)', { skip, timeout: 10 * 60_000 }, () => {
  const namespace = `tightloop-e2e-m-${Date.now().toString(36)}`;
  let client: KubeClient;
  let context: string;
  let engine: Engine;
  let dir: string;
  /** What the nodes can run; injected as the "pushed" reference. */
  let ref: string;

  before(async () => {
    const loaded = loadKubeConfig({ kubeconfig: KUBECONFIG, context: process.env.TIGHTLOOP_E2E_CONTEXT, allowContexts: [], namespace: 'default' }, process.cwd());
    context = loaded.context;
    if (!contextAllowed(context, DEFAULT_ALLOW) && process.env.TIGHTLOOP_E2E_ALLOW_ANY_CONTEXT !== '1') {
      throw new Error(`context ${context} does not look like a local cluster; set TIGHTLOOP_E2E_ALLOW_ANY_CONTEXT=1 to run the suite against it anyway`);
    }
    client = new KubeClient(loaded, 30_000);
    ref = process.env.TIGHTLOOP_E2E_IMAGE ?? '127.0.0.1:5000/hello:initial';
    const repository = repositoryOf(ref);
    // The manifests name the repository with a placeholder tag, as a user's would; the run injects `ref`.
    const app = EXAMPLE.replaceAll('127.0.0.1:5000/hello:initial', `${repository}:placeholder`);
    const cache = app.split(/^---$/m)[0]!.replaceAll('hello', 'cache');
    dir = await workspace({
      'k8s/00-namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n  labels: { app.kubernetes.io/created-by: tightloop-e2e }\n`,
      'k8s/hello.yaml': app,
      'cache/cache.yaml': cache.replaceAll(`${repository}:placeholder`, ref),
      'bin/hello': 'x',
    });
    const config = await configIn(
      dir,
      `version: 1
kubernetes: { kubeconfig: ${KUBECONFIG}, context: ${context}, allowContexts: [${context}], namespace: ${namespace} }
services:
  hello:
    dependsOn: [cache]
    stage: { dir: out, files: [{ from: bin/hello, to: hello }] }
    image: { repository: ${repository} }
    deploy: { manifests: [k8s], readyTimeout: 3m }
resources:
  cache:
    manifests: [cache]
    dependsOn: []
    readyTimeout: 3m
`,
    );
    // The Namespace is in hello's manifests; the resource must wait for it: create it up front too.
    await client.core.createNamespace({ body: { metadata: { name: namespace, labels: { 'app.kubernetes.io/created-by': 'tightloop-e2e' } } } }).catch(() => {});
    engine = await Engine.start(config, {
      stages: (c, hooks) => {
        const kube = createKubeStages(c, { logSink: hooks.log, requestTimeoutMs: 30_000 });
        // Image building is not under test here: the reference the nodes can run is the "pushed" one.
        const image = { name: 'image' as const, run: async () => ({ outputs: { imageRef: ref } }) };
        const push = { name: 'push' as const, run: async () => ({ outputs: { deployRef: ref } satisfies Partial<RunOutputs> }) };
        return { ...kube, image, push, dispose: kube.dispose };
      },
    });
  });

  after(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when before() failed
    await engine?.dispose();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when before() failed
    await client?.core.deleteNamespace({ name: namespace }).catch(() => {});
  });

  const ok = (s: RunSummary | undefined) => assert.equal(s?.status, 'ok', `${s?.error}\n${(s?.evidence ?? []).join('\n')}`);
  const resourceVersions = async () => {
    const d = await client.apps.readNamespacedDeployment({ name: 'hello', namespace });
    const c = await client.apps.readNamespacedDeployment({ name: 'cache', namespace });
    const s = await client.core.readNamespacedService({ name: 'hello', namespace });
    return [d.metadata?.resourceVersion, c.metadata?.resourceVersion, s.metadata?.resourceVersion];
  };

  it('first run creates the Deployment, the Service and the resource, with the image injected', async () => {
    const runs = await engine.run(['hello']);
    ok(runs[0]);
    const d = await client.apps.readNamespacedDeployment({ name: 'hello', namespace });
    assert.equal(d.spec!.template.spec!.containers[0]!.image, ref, 'the injected reference is on the live object');
    assert.ok(d.metadata!.managedFields!.some((m) => m.manager === 'tightloop' && m.operation === 'Apply'));
    assert.equal(d.metadata!.labels!['tightloop.dev/service'], 'hello');
    assert.ok(await client.core.readNamespacedService({ name: 'hello', namespace }));
    assert.equal((await client.apps.readNamespacedDeployment({ name: 'cache', namespace })).status?.readyReplicas, 1);
  });

  it('an unchanged run writes nothing', async () => {
    const before = await resourceVersions();
    const runs = await engine.run(['hello']);
    ok(runs[0]);
    for (const r of runs) {
      assert.equal(r.records.find((x) => x.stage === 'deploy')?.status, 'skipped', `${r.service}: deploy must not write`);
    }
    assert.deepEqual(await resourceVersions(), before);
  });

  it('prunes an object removed from the manifests', async () => {
    await put(dir, 'k8s/hello.yaml', readFileSync(path.join(dir, 'k8s/hello.yaml'), 'utf8').split(/^---$/m)[0]!);
    ok((await engine.run(['hello']))[0]);
    await assert.rejects(client.core.readNamespacedService({ name: 'hello', namespace }), (err: { code?: number }) => err.code === 404);
    assert.ok(await client.apps.readNamespacedDeployment({ name: 'hello', namespace }));
  });

  it('down leaves nothing labelled', async () => {
    await engine.down();
    const selector = 'app.kubernetes.io/managed-by=tightloop';
    const deployments = await client.apps.listNamespacedDeployment({ namespace, labelSelector: selector }).catch(() => ({ items: [] }));
    const services = await client.core.listNamespacedService({ namespace, labelSelector: selector }).catch(() => ({ items: [] }));
    assert.deepEqual([...deployments.items, ...services.items].map((o) => o.metadata?.name), []);
    // The Namespace was in the manifests: it is gone too (down waits until it is).
    await assert.rejects(client.core.readNamespace({ name: namespace }), (err: { code?: number }) => err.code === 404);
    await rm(path.join(dir, '.tightloop'), { recursive: true, force: true });
  });
});
