import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { kubeWithPushed } from './helpers.js';
import type { RunSummary } from '../../src/engine/types.js';
import { FakeKubeServer } from '../fake-kube/server.js';
import { configIn, workspace } from '../helpers/workspace.js';

/**
 * Custom resources from manifests: a CustomResourceDefinition in the same manifests is applied
 * first, its kind is waited for until the API server serves it (a real one establishes a
 * definition a moment after it is written; the fake does so after crdEstablishMs), and the built
 * image is injected at the field paths deploy.imageFields names. Real client-node, fake API server.
 */

const DIGEST = `127.0.0.1:5000/runner@sha256:${'f'.repeat(64)}`;
const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: pipelines.ci.example.com }
spec:
  group: ci.example.com
  scope: Namespaced
  names: { plural: pipelines, singular: pipeline, kind: Pipeline }
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;
const PIPELINE = `apiVersion: ci.example.com/v1alpha1
kind: Pipeline
metadata: { name: nightly }
spec:
  steps:
    - { name: test, image: "127.0.0.1:5000/runner:dev" }
    - { name: lint, image: "golangci/golangci-lint:v1" }
`;

const servers: FakeKubeServer[] = [];
after(async () => Promise.all(servers.map((s) => s.close())));

async function setup(establishMs: number, files: Record<string, string>) {
  const fake = await FakeKubeServer.start({ crdEstablishMs: establishMs });
  servers.push(fake);
  const dir = await workspace({ 'bin/runner': 'v1', ...files });
  const config = await configIn(dir, `version: 1
kubernetes: { kubeconfig: ${fake.kubeconfigPath} }
services:
  runner:
    stage: { dir: out, files: [{ from: bin/runner, to: runner }] }
    image: { repository: 127.0.0.1:5000/runner }
    deploy:
      manifests: [k8s]
      imageFields: [{ kind: Pipeline, path: "spec.steps[].image" }]
      readyTimeout: 10s
`);
  // The image stages are not under test: the pushed digest arrives as the push stage's output.
  const engine = await Engine.start(config, { stages: kubeWithPushed({ ref: DIGEST }, '127.0.0.1:5000/runner:tl-1') });
  after(() => engine.dispose());
  return { fake, engine };
}

const ok = (run: RunSummary | undefined) => assert.equal(run?.status, 'ok', `${run?.error}\n${(run?.evidence ?? []).join('\n')}`);

describe('custom resources from manifests', () => {
  it('applies the definition first, waits until its kind is served, and injects the image at deploy.imageFields', async () => {
    const { fake, engine } = await setup(400, { 'k8s/pipeline.yaml': PIPELINE, 'k8s/crd.yaml': CRD });
    const [run] = await engine.run(['runner']);
    ok(run);
    const applied = fake.writes().filter((r) => r.contentType === 'application/apply-patch+yaml').map((r) => r.path);
    assert.deepEqual(applied, ['/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pipelines.ci.example.com', '/apis/ci.example.com/v1alpha1/namespaces/default/pipelines/nightly']);
    const pipeline = fake.cluster.get('pipelines', 'default', 'nightly')!;
    assert.equal(pipeline.spec.steps[0].image, DIGEST, 'the step naming the built repository gets the digest');
    assert.equal(pipeline.spec.steps[1].image, 'golangci/golangci-lint:v1');
    assert.match(run!.records.find((r) => r.stage === 'deploy')!.detail!, /image injected into Pipeline\/nightly/);
    assert.match(run!.records.find((r) => r.stage === 'ready')!.detail!, /^no workloads ready/);
  });

  it('a kind no definition in the manifests provides is reported before anything is written', async () => {
    const { fake, engine } = await setup(0, { 'k8s/crd.yaml': CRD, 'k8s/pipeline.yaml': `${PIPELINE}---\napiVersion: ci.example.com/v1alpha1\nkind: Pipeline2\nmetadata: { name: other }\n` });
    const [run] = await engine.run(['runner']);
    assert.equal(run!.status, 'failed');
    assert.match(run!.error!, /^deploy: k8s\/pipeline\.yaml document 2 \(line \d+\): Pipeline2\/other: unknown kind Pipeline2 in ci\.example\.com\/v1alpha1/);
    assert.deepEqual(fake.writes(), [], 'not even the definition');
  });
});
