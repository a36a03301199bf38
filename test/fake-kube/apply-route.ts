import { parse as parseYaml } from 'yaml';
import type { FakeCluster } from './cluster.js';
import { conflictStatus, serverSideApply } from './server-side-apply.js';
import { validateObject } from './apply-validation.js';
import type { KObj, Resource } from './store.js';

/**
 * PATCH with Content-Type application/apply-patch+yaml on an object URL: server-side apply,
 * creating the object when it does not exist, as the real API server does. Also the discovery
 * documents (/api/v1, /apis/<group>/<version>) that clients read to map kinds to resources.
 */

export interface ServedResource {
  group: string;
  kind: string;
  namespaced: boolean;
  version?: string;
}

export interface Reply {
  code: number;
  body: unknown;
}

const GENERATION_KINDS = new Set(['deployments', 'statefulsets', 'daemonsets', 'jobs']);

export const isApplyPatch = (contentType: string | undefined) => (contentType ?? '').split(';')[0]!.trim() === 'application/apply-patch+yaml';

export function applyRequest(
  cluster: FakeCluster,
  served: Record<string, ServedResource>,
  route: { resource: string; namespace?: string; name: string },
  query: URLSearchParams,
  body: string,
): Reply {
  const info = served[route.resource]!;
  const qualified = info.group ? `${route.resource}.${info.group}` : route.resource;
  const manager = query.get('fieldManager');
  if (!manager) return status(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  let parsed: unknown; // the request body: anything
  try {
    parsed = parseYaml(body);
  } catch (err) {
    return status(400, 'BadRequest', `error decoding YAML: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || !('metadata' in parsed) || !parsed.metadata) return status(400, 'BadRequest', 'invalid object: metadata missing');
  const applied = parsed as KObj;
  if (applied.kind !== info.kind) return status(400, 'BadRequest', `the kind ${applied.kind} does not match the resource ${qualified}`);
  if (applied.metadata.name !== route.name) return status(400, 'BadRequest', `the name of the object (${applied.metadata.name}) does not match the name on the URL (${route.name})`);
  if (info.namespaced) {
    if (applied.metadata.namespace && applied.metadata.namespace !== route.namespace) return status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    applied.metadata.namespace = route.namespace;
  }
  const store = cluster.store;
  const resource = route.resource as Resource;
  const live = store.get(resource, route.namespace, route.name);
  const outcome = serverSideApply(live, applied, manager, query.get('force') === 'true');
  if (!outcome.ok) return { code: 409, body: conflictStatus(outcome.conflicts, applied.apiVersion) };
  const next = outcome.object;
  const invalid = validateObject(info.kind, next, live);
  if (invalid.length) {
    const message = `${info.kind}${info.group ? `.${info.group}` : ''} "${route.name}" is invalid: ${invalid.map((c) => `${c.field}: ${c.message}`).join(', ')}`;
    return { code: 422, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Invalid', details: { name: route.name, group: info.group, kind: info.kind, causes: invalid.map((c) => ({ reason: 'FieldValueInvalid', message: c.message, field: c.field })) }, code: 422 } };
  }
  if (!live) {
    if (GENERATION_KINDS.has(resource)) next.metadata.generation = 1;
    delete next.status;
    if (resource === 'namespaces') next.status = { phase: 'Active' };
    const created = store.create(resource, next);
    if (resource === 'pods') {
      created.status = { phase: 'Pending', qosClass: 'BestEffort' };
      const withStatus = store.update('pods', created);
      cluster.kubelet.admit(withStatus);
      return { code: 201, body: withStatus };
    }
    return { code: 201, body: created };
  }
  // The registry strategy on update: identity kept, status only via /status, spec changes bump generation.
  next.metadata = { ...next.metadata, name: live.metadata.name, namespace: live.metadata.namespace, uid: live.metadata.uid, resourceVersion: live.metadata.resourceVersion, creationTimestamp: live.metadata.creationTimestamp };
  if (live.status !== undefined) next.status = live.status;
  const specChanged = JSON.stringify(live.spec) !== JSON.stringify(next.spec);
  if (GENERATION_KINDS.has(resource)) next.metadata.generation = (live.metadata.generation ?? 1) + (specChanged ? 1 : 0);
  // A no-op apply writes nothing (same resourceVersion), like the real server.
  if (JSON.stringify(withoutTimes(live)) === JSON.stringify(withoutTimes(next))) return { code: 200, body: live };
  return { code: 200, body: store.update(resource, next) };
}

function withoutTimes(o: KObj): unknown {
  const c = structuredClone(o);
  for (const m of (c.metadata.managedFields ?? []) as { time?: string }[]) delete m.time;
  return c;
}

/** GET /api/v1 or /apis/<group>/<version>: the APIResourceList clients use for discovery. */
export function discovery(pathname: string, served: Record<string, ServedResource>): Reply | undefined {
  const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(pathname);
  if (!m) return undefined;
  const group = m[2] ?? '';
  const version = m[3] ?? 'v1';
  const resources = Object.entries(served)
    .filter(([, r]) => r.group === group && (r.version ?? 'v1') === version)
    .map(([name, r]) => ({ name, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] }));
  if (!resources.length) return status(404, 'NotFound', 'the server could not find the requested resource');
  return { code: 200, body: { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : 'v1', resources } };
}

function status(code: number, reason: string, message: string): Reply {
  return { code, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code } };
}
