import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prepareObjects } from '../../src/engine/kube/manifests/prepare.js';
import { parseManifestText } from '../../src/engine/kube/manifests/source.js';

/**
 * Image injection as issue 12 describes it: every container and initContainer naming the built
 * repository (with or without the registry host, docker.io spelled out or not) gets the pushed
 * digest; custom resources get it at the field paths `imageFields` names; anything else is applied
 * as it is; the apply order puts Namespaces first.
 */

const REF = `127.0.0.1:5000/api@sha256:${'d'.repeat(64)}`;
const options = (imageFields: { kind: string; path: string }[] = []) => ({
  service: 'api',
  project: 'p1',
  defaultNamespace: 'dev',
  image: { repository: '127.0.0.1:5000/api', ref: REF },
  imageFields,
});

const WORKFLOW = `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: { name: build }
spec:
  runner: { image: "api:dev" }
  steps:
    - { name: test, image: "127.0.0.1:5000/api:dev" }
    - { name: lint, image: "golangci/golangci-lint:v1" }
`;
const CRONJOB = `apiVersion: batch/v1
kind: CronJob
metadata: { name: nightly }
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          initContainers: [{ name: wait, image: "busybox:1.36" }]
          containers: [{ name: report, image: "api" }]
`;

describe('prepareObjects: image injection', () => {
  it('injects into the custom resource fields imageFields names, and nowhere else in it', () => {
    const loaded = parseManifestText(WORKFLOW, 'k8s/workflow.yaml');
    const prepared = prepareObjects(loaded, options([{ kind: 'Workflow', path: 'spec.steps[].image' }, { kind: 'Workflow', path: 'spec.runner.image' }]));
    const wf = prepared.objects[0]!.object as unknown as { spec: { runner: { image: string }; steps: { image: string }[] } };
    assert.equal(wf.spec.steps[0]!.image, REF);
    assert.equal(wf.spec.steps[1]!.image, 'golangci/golangci-lint:v1', 'another image: untouched');
    assert.equal(wf.spec.runner.image, REF, 'the name without the registry host matches too');
    assert.deepEqual(prepared.objects[0]!.injected.map((i) => [i.field, i.from]), [
      ['spec.steps[0].image', '127.0.0.1:5000/api:dev'],
      ['spec.runner.image', 'api:dev'],
    ]);
    assert.equal(prepared.unmatchedImage, undefined);
    // Without imageFields the same custom resource is applied as written, and that is reported.
    const plain = prepareObjects(loaded, options());
    assert.equal((plain.objects[0]!.object as unknown as { spec: { steps: { image: string }[] } }).spec.steps[0]!.image, '127.0.0.1:5000/api:dev');
    assert.equal(plain.unmatchedImage, '127.0.0.1:5000/api');
  });

  it('reaches a CronJob\'s pod template; a Namespace goes first; objects keep their own namespace', () => {
    const loaded = parseManifestText(`${CRONJOB}---\napiVersion: v1\nkind: Namespace\nmetadata: { name: dev }\n`, 'k8s/all.yaml');
    const prepared = prepareObjects(loaded, options());
    assert.deepEqual(prepared.objects.map((o) => o.object.kind), ['Namespace', 'CronJob']);
    const cron = prepared.objects[1]!.object as unknown as { spec: { jobTemplate: { spec: { template: { spec: { containers: { image: string }[]; initContainers: { image: string }[] } } } } } };
    assert.equal(cron.spec.jobTemplate.spec.template.spec.containers[0]!.image, REF);
    assert.equal(cron.spec.jobTemplate.spec.template.spec.initContainers[0]!.image, 'busybox:1.36');
    assert.equal(prepared.objects[1]!.object.metadata.namespace, undefined, 'the default namespace is set at apply time, for namespaced kinds only');
    assert.equal(prepared.objects[1]!.object.metadata.labels?.['tightloop.dev/service'], 'api');
  });

  it('the hash changes with the injected reference and not with formatting', () => {
    const a = prepareObjects(parseManifestText(CRONJOB, 'a.yaml'), options());
    const b = prepareObjects(parseManifestText(`# comment\n${CRONJOB.replace('"0 3 * * *"', "'0 3 * * *'")}`, 'a.yaml'), options());
    const c = prepareObjects(parseManifestText(CRONJOB, 'a.yaml'), { ...options(), image: { repository: '127.0.0.1:5000/api', ref: REF.replace(/d{64}/, 'e'.repeat(64)) } });
    assert.equal(a.hash, b.hash);
    assert.notEqual(a.hash, c.hash);
  });
});
