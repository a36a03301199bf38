import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/config/load.js';
import { workspace } from '../helpers/workspace.js';

/** Config for manifests, resources and ${env:NAME:-default}. */

const issuesOf = (text: string, file: string, env: NodeJS.ProcessEnv = {}) =>
  parseConfigText(text, file, env).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);

describe('config: manifests and resources', () => {
  it('resolves deploy.manifests without a workload, watches the manifest folders, and resolves resources as services without a build', async () => {
    const dir = await workspace({ 'k8s/app.yaml': '', 'db/pg.yaml': '', 'src/a.c': '' });
    const text = `version: 1
kubernetes: { namespace: dev }
services:
  api:
    watch: { paths: [src] }
    dependsOn: [postgres]
    deploy: { manifests: [k8s, "extra/*.yaml"], imageFields: [{ kind: Workflow, path: "spec.steps[].image" }] }
resources:
  postgres:
    manifests: [db/pg.yaml]
    portForwards: ["5432:5432"]
    readiness: { command: pg_isready, timeout: 30s }
`;
    const { config, issues } = parseConfigText(text, path.join(dir, 'tightloop.yaml'), {});
    assert.deepEqual(issues, []);
    const api = config!.services.api!;
    assert.equal(api.deploy!.workload, undefined);
    assert.deepEqual(api.deploy!.manifests!.paths, [path.join(dir, 'k8s'), path.join(dir, 'extra/*.yaml')]);
    assert.deepEqual(api.watch!.paths, [path.join(dir, 'src'), path.join(dir, 'k8s'), path.join(dir, 'extra')]);
    const pg = config!.services.postgres!;
    assert.equal(pg.role, 'resource');
    assert.equal(pg.deploy!.namespace, 'dev');
    assert.deepEqual(pg.deploy!.portForwards, [{ local: 5432, remote: 5432 }]);
    assert.deepEqual(pg.deploy!.readiness, { command: 'pg_isready', timeoutMs: 30_000 });
    assert.deepEqual(pg.watch!.paths, [path.join(dir, 'db/pg.yaml')]);
  });

  it('reports a deploy with neither workload nor manifests, a missing manifest, a name used twice, and an unknown resource field', async () => {
    const dir = await workspace();
    const text = `version: 1
services:
  api:
    deploy: { namespace: x }
  web:
    deploy: { manifests: [k8s/missing.yaml] }
resources:
  api: { manifests: [k8s] }
  redis: { manifest: [k8s] }
`;
    const issues = issuesOf(text, path.join(dir, 'tightloop.yaml'));
    assert.ok(issues.some((i) => /redis\.manifest: unknown field "manifest" \(did you mean "manifests"\?\)/.test(i)), issues.join('\n'));
    const text2 = text.replace('  redis: { manifest: [k8s] }\n', '');
    const issues2 = issuesOf(text2, path.join(dir, 'tightloop.yaml'));
    assert.ok(issues2.some((i) => /services\.api\.deploy: deploy needs a workload, manifests or render/.test(i)), issues2.join('\n'));
    assert.ok(issues2.some((i) => /services\.web\.deploy\.manifests\.0: manifest file or folder not found/.test(i)), issues2.join('\n'));
    assert.ok(issues2.some((i) => /resources\.api: "api" is both a service and a resource/.test(i)), issues2.join('\n'));
  });

  it('expands ${env:NAME:-default}: the default when unset or empty, the value when set', async () => {
    const dir = await workspace();
    const text = 'version: 1\nkubernetes: { context: "${env:KCTX:-kind-dev}", namespace: "${env:NS:-team}" }\nservices:\n  api: { compile: { command: "make ${env:TARGET:-all}" } }\n';
    const file = path.join(dir, 'tightloop.yaml');
    const unset = parseConfigText(text, file, {}).config!;
    assert.equal(unset.kubernetes.context, 'kind-dev');
    assert.equal(unset.kubernetes.namespace, 'team');
    // In a command the value is passed as an environment variable, never pasted into the shell text.
    assert.equal(unset.services.api!.compile!.command, 'make "${TIGHTLOOP_ENV_TARGET}"');
    assert.equal(unset.services.api!.compile!.env.TIGHTLOOP_ENV_TARGET, 'all');
    const set = parseConfigText(text, file, { KCTX: 'k3d-ci', NS: '', TARGET: 'api' }).config!;
    assert.equal(set.kubernetes.context, 'k3d-ci');
    assert.equal(set.kubernetes.namespace, 'team', 'empty counts as unset, as in the shell');
    assert.equal(set.services.api!.compile!.env.TIGHTLOOP_ENV_TARGET, 'api');
  });
});
