import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from '../fake-kube/patch.js';
import { parseLabelSelector } from '../fake-kube/selectors.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { REAL_TIMING } from '../fake-kube/cluster.js';
import { deployment, startCluster, waitFor } from './helpers.js';

/** The fake must answer like the API server, or the tests above prove nothing. */

describe('fake API server: patch semantics', () => {
  const doc = {
    metadata: { labels: { a: '1', b: '2' } },
    spec: { containers: [{ name: 'api', image: 'v1', env: [{ name: 'X', value: '1' }] }, { name: 'proxy', image: 'p1' }] },
  };

  it('JSON patch (RFC 6902): add/remove/replace/move/copy/test with pointer escaping', () => {
    const out = applyJsonPatch({ ...doc, 'a/b': { '~k': 1 } }, [
      { op: 'replace', path: '/spec/containers/0/image', value: 'v2' },
      { op: 'add', path: '/spec/containers/-', value: { name: 'side' } },
      { op: 'remove', path: '/metadata/labels/b' },
      { op: 'copy', from: '/metadata/labels/a', path: '/metadata/labels/c' },
      { op: 'move', from: '/a~1b/~0k', path: '/moved' },
      { op: 'test', path: '/spec/containers/0/image', value: 'v2' },
    ]) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(out.spec.containers[0].image, 'v2');
    assert.deepEqual(out.spec.containers.map((c: { name: string }) => c.name), ['api', 'proxy', 'side']);
    assert.deepEqual(out.metadata.labels, { a: '1', c: '1' });
    assert.equal(out.moved, 1);
    assert.deepEqual(out['a/b'], {});
    assert.throws(() => applyJsonPatch(doc, [{ op: 'test', path: '/spec/containers/0/image', value: 'nope' }]), PatchError);
    assert.throws(() => applyJsonPatch(doc, [{ op: 'remove', path: '/spec/nothing' }]), /path not found/);
    assert.throws(() => applyJsonPatch(doc, [{ op: 'add', path: '/spec/containers/9', value: 1 }]), /out of range/);
    assert.equal(doc.spec.containers[0]!.image, 'v1', 'the input is not mutated');
  });

  it('merge patch (RFC 7386) replaces lists and deletes with null', () => {
    const out = applyMergePatch(doc, { metadata: { labels: { b: null, c: '3' } }, spec: { containers: [{ name: 'api', image: 'v2' }] } }) as typeof doc;
    assert.deepEqual(out.metadata.labels, { a: '1', c: '3' });
    assert.deepEqual(out.spec.containers, [{ name: 'api', image: 'v2' }], 'the whole list is replaced');
  });

  it('strategic merge patch merges containers and env by name and honours $patch directives', () => {
    const out = applyStrategicMergePatch(doc, {
      spec: {
        '$setElementOrder/containers': [{ name: 'api' }, { name: 'proxy' }],
        containers: [{ name: 'api', image: 'v2', env: [{ name: 'Y', value: '2' }] }, { name: 'proxy', $patch: 'delete' }, { name: 'new', image: 'n1' }],
      },
    }) as typeof doc;
    assert.deepEqual(out.spec.containers, [
      { name: 'api', image: 'v2', env: [{ name: 'X', value: '1' }, { name: 'Y', value: '2' }] },
      { name: 'new', image: 'n1' },
    ]);
    const replaced = applyStrategicMergePatch(doc, { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'o' }] } }) as typeof doc;
    assert.deepEqual(replaced.spec.containers, [{ name: 'only', image: 'o' }]);
    assert.throws(() => applyStrategicMergePatch(doc, { spec: { containers: [{ image: 'no-name' }] } }), /merge key "name"/);
  });

  it('label selectors: equality, inequality, set-based and existence', () => {
    const l = { app: 'api', tier: 'web' };
    assert.ok(parseLabelSelector('app=api,tier in (web,db)')(l));
    assert.ok(parseLabelSelector('app==api,!missing,tier')(l));
    assert.ok(!parseLabelSelector('app!=api')(l));
    assert.ok(!parseLabelSelector('tier notin (web)')(l));
    assert.ok(parseLabelSelector('')(l));
  });
});

describe('fake API server: HTTP behaviour', () => {
  let fake: FakeKubeServer;
  before(async () => {
    fake = await startCluster([deployment()]);
  });
  after(() => fake.close());
  const call = (path: string, init: RequestInit = {}) =>
    fetch(fake.url + path, { ...init, headers: { authorization: `Bearer ${fake.token}`, ...(init.headers as Record<string, string>) } });

  it('answers 401 without the token and a Status 404 for a missing object', async () => {
    assert.equal((await fetch(`${fake.url}/api/v1/nodes`)).status, 401);
    const res = await call('/apis/apps/v1/namespaces/default/deployments/nope');
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'deployments.apps "nope" not found', reason: 'NotFound', details: { name: 'nope', group: 'apps', kind: 'deployments' }, code: 404,
    });
  });

  it('409 on a duplicate create and on a stale resourceVersion; 415 for an unknown patch type; 422 for a failed JSON patch test', async () => {
    const dup = await call('/apis/apps/v1/namespaces/default/deployments', { method: 'POST', body: JSON.stringify(deployment()), headers: { 'content-type': 'application/json' } });
    assert.equal(dup.status, 409);
    assert.equal(((await dup.json()) as { reason: string }).reason, 'AlreadyExists');
    const stale = await call('/apis/apps/v1/namespaces/default/deployments/api', { method: 'PATCH', body: JSON.stringify({ metadata: { resourceVersion: '1' } }), headers: { 'content-type': 'application/merge-patch+json' } });
    assert.equal(stale.status, 409);
    const bad = await call('/apis/apps/v1/namespaces/default/deployments/api', { method: 'PATCH', body: '{}', headers: { 'content-type': 'text/plain' } });
    assert.equal(bad.status, 415);
    const test = await call('/apis/apps/v1/namespaces/default/deployments/api', { method: 'PATCH', body: JSON.stringify([{ op: 'test', path: '/spec/replicas', value: 7 }]), headers: { 'content-type': 'application/json-patch+json' } });
    assert.equal(test.status, 422);
  });

  it('bumps generation only for spec changes', async () => {
    const patch = (body: object) => call('/apis/apps/v1/namespaces/default/deployments/api', { method: 'PATCH', body: JSON.stringify(body), headers: { 'content-type': 'application/merge-patch+json' } }).then((r) => r.json() as Promise<{ metadata: { generation: number } }>);
    const g0 = fake.cluster.get('deployments', 'default', 'api')!.metadata.generation!;
    assert.equal((await patch({ metadata: { labels: { x: 'y' } } })).metadata.generation, g0);
    assert.equal((await patch({ spec: { minReadySeconds: 0 } })).metadata.generation, g0 + 1);
    assert.equal((await patch({ status: { replicas: 99 } })).metadata.generation, g0 + 1);
    assert.notEqual(fake.cluster.get('deployments', 'default', 'api')!.status.replicas, 99, 'status is not writable through the main resource');
  });

  it('watch: replays from a resourceVersion, sends bookmarks, and answers 410 Expired after compaction', async () => {
    const rv = fake.cluster.store.resourceVersion;
    fake.cluster.addConfigMap('default', 'a', { k: '1' });
    const lines = await readWatch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`, 2);
    assert.equal(lines[0]!.type, 'ADDED');
    assert.equal((lines[0]!.object as { metadata: { name: string } }).metadata.name, 'a');
    assert.equal(lines[1]!.type, 'BOOKMARK');
    assert.ok(Number((lines[1]!.object as { metadata: { resourceVersion: string } }).metadata.resourceVersion) > rv);

    fake.cluster.addConfigMap('default', 'b', { k: '1' });
    fake.cluster.store.compact();
    const expired = await readWatch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}`, 1);
    assert.equal(expired[0]!.type, 'ERROR');
    assert.equal((expired[0]!.object as { code: number; reason: string }).code, 410);
    assert.equal((expired[0]!.object as { reason: string }).reason, 'Expired');
  });

  it("pod logs: the current run's lines; previous logs only exist after a crash", async () => {
    const pod = fake.cluster.pods()[0]!;
    const res = await call(`/api/v1/namespaces/default/pods/${pod.metadata.name}/log?container=api`);
    assert.equal(await res.text(), 'api starting\nlistening on :8080\n');
    const prev = await call(`/api/v1/namespaces/default/pods/${pod.metadata.name}/log?container=api&previous=true`);
    assert.equal(prev.status, 400);
    assert.match(((await prev.json()) as { message: string }).message, /previous terminated container "api"/);
  });

  it('graceful pod delete: deletionTimestamp first, gone after the grace period, replaced by the controller', async () => {
    const pod = fake.cluster.pods()[0]!;
    const res = await call(`/api/v1/namespaces/default/pods/${pod.metadata.name}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as { metadata: { deletionTimestamp?: string } }).metadata.deletionTimestamp, 'terminating');
    await waitFor(() => !fake.cluster.get('pods', 'default', pod.metadata.name), 2000, 'the pod to go');
    await waitFor(() => fake.cluster.pods().length === 1 && fake.cluster.pods()[0]!.metadata.uid !== pod.metadata.uid, 2000, 'a replacement');
  });

  it('rejects requests above the container limits with 422 naming the field, like a real API server', async () => {
    const patch = { spec: { template: { spec: { containers: [{ name: 'api', resources: { requests: { memory: '64Ti' }, limits: { memory: '32Mi' } } }] } } } };
    const res = await call('/apis/apps/v1/namespaces/default/deployments/api', { method: 'PATCH', body: JSON.stringify(patch), headers: { 'content-type': 'application/strategic-merge-patch+json' } });
    assert.equal(res.status, 422);
    const status = (await res.json()) as { reason: string; message: string; details: { causes: { field: string }[] } };
    assert.equal(status.reason, 'Invalid');
    assert.equal(status.details.causes[0]!.field, 'spec.template.spec.containers[0].resources.requests');
    assert.match(status.message, /Deployment\.apps "api" is invalid: .*must be less than or equal to memory limit of 32Mi/);
    // Requests within the limits are accepted.
    const ok = { spec: { template: { spec: { containers: [{ name: 'api', resources: { requests: { memory: '16Mi', cpu: '500m' }, limits: { memory: '32Mi', cpu: '1' } } }] } } } };
    assert.equal((await call('/apis/apps/v1/namespaces/default/deployments/api', { method: 'PATCH', body: JSON.stringify(ok), headers: { 'content-type': 'application/strategic-merge-patch+json' } })).status, 200);
  });

  async function readWatch(path: string, count: number): Promise<{ type: string; object: unknown }[]> {
    const abort = new AbortController();
    const res = await call(path, { signal: abort.signal });
    const reader = res.body!.getReader();
    const out: { type: string; object: unknown }[] = [];
    let buf = '';
    while (out.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += Buffer.from(value).toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0 && out.length < count) {
        out.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    }
    abort.abort();
    return out;
  }
});

describe('fake API server: a real cluster\'s pace and RBAC', () => {
  it('REAL_TIMING: a pod with a 1 s readiness probe turns Ready on the probe grid, one without a probe once started', async () => {
    const fake = await startCluster([]);
    try {
      fake.cluster.timing = { ...REAL_TIMING };
      fake.create(deployment({ name: 'probed', probe: true }) as Parameters<typeof fake.create>[0]);
      fake.create(deployment({ name: 'plain' }) as Parameters<typeof fake.create>[0]);
      const ready = (name: string) => fake.cluster.pods().find((p) => p.metadata.name.startsWith(name) && p.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True'));
      await waitFor(() => !!ready('probed') && !!ready('plain'), 20_000, 'both pods Ready');
      const age = (name: string) => {
        const p = ready(name)!;
        const at = p.status.conditions.find((c: { type: string }) => c.type === 'Ready').lastTransitionTime as string;
        return Date.parse(at) - Date.parse(p.metadata.creationTimestamp);
      };
      // The probe (periodSeconds 2 in the helper) cannot pass before its first tick after the start.
      assert.ok(age('probed') >= 2000 - 5, `probed pod Ready after ${age('probed')} ms`);
      assert.ok(age('plain') >= REAL_TIMING.startMs - 5, `plain pod Ready after ${age('plain')} ms`);
    } finally {
      await fake.close();
    }
  });

  it('ServiceAccount tokens (TokenRequest) act as the account: what its Role grants, 403 otherwise, SelfSubjectAccessReview agrees', async () => {
    const fake = await startCluster([deployment()]);
    try {
      const admin = (path: string, init: RequestInit = {}) => fetch(`${fake.url}${path}`, { ...init, headers: { authorization: `Bearer ${fake.token}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
      assert.equal((await admin('/api/v1/namespaces/default/serviceaccounts', { method: 'POST', body: JSON.stringify({ metadata: { name: 'ci' } }) })).status, 201);
      const role = { metadata: { name: 'read-pods' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }] };
      assert.equal((await admin('/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', { method: 'POST', body: JSON.stringify(role) })).status, 201);
      const binding = { metadata: { name: 'ci' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-pods' }, subjects: [{ kind: 'ServiceAccount', name: 'ci', namespace: 'default' }] };
      assert.equal((await admin('/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', { method: 'POST', body: JSON.stringify(binding) })).status, 201);
      const issued = (await (await admin('/api/v1/namespaces/default/serviceaccounts/ci/token', { method: 'POST', body: JSON.stringify({ spec: { expirationSeconds: 600 } }) })).json()) as { status: { token: string } };
      const as = (path: string, init: RequestInit = {}) => fetch(`${fake.url}${path}`, { ...init, headers: { authorization: `Bearer ${issued.status.token}`, 'content-type': 'application/json' } });
      assert.equal((await as('/api/v1/namespaces/default/pods')).status, 200);
      const denied = await as('/apis/apps/v1/namespaces/default/deployments/api');
      assert.equal(denied.status, 403);
      assert.match(((await denied.json()) as { message: string }).message, /^deployments "api" is forbidden: User "system:serviceaccount:default:ci" cannot get resource "deployments" in API group "apps" in the namespace "default"$/);
      const review = async (subresource?: string) =>
        ((await (await as('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', body: JSON.stringify({ spec: { resourceAttributes: { namespace: 'default', verb: subresource ? 'create' : 'list', resource: 'pods', subresource } } }) })).json()) as { status: { allowed: boolean } }).status.allowed;
      assert.equal(await review(), true);
      assert.equal(await review('exec'), false);
      assert.equal((await fetch(`${fake.url}/api/v1/namespaces/default/pods`, { headers: { authorization: 'Bearer not-a-token' } })).status, 401);
    } finally {
      await fake.close();
    }
  });
});
