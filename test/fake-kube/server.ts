import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { FakeCluster, type FakeNode } from './cluster.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from './patch.js';
import { FakeExec } from './exec.js';
import { handlePortForward } from './portforward.js';
import { FakeRbac, verbOf } from './rbac.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { AlreadyExists, type Change, type KObj, type Resource } from './store.js';
import { validate } from './validation.js';
import { applyRequest, discovery, isApplyPatch } from './apply-route.js';

/**
 * A fake Kubernetes API server at the HTTP level, for the real @kubernetes/client-node to talk to.
 * Serves core/v1 pods (list/watch/get/delete/deletecollection, log with follow, portforward over
 * WebSocket), events, configmaps, nodes, namespaces and apps/v1 deployments/statefulsets/daemonsets
 * (get/list/watch/create/replace/patch/delete), with Status errors (401/404/409/410/415/422) the way
 * the real one answers. Every request is logged so tests can count writes.
 */

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: unknown;
}

interface ResourceInfo {
  group: string;
  kind: string;
  namespaced: boolean;
  /** Default v1; custom resources serve the first version their definition names. */
  version?: string;
}

const RESOURCES: Record<string, ResourceInfo> = {
  pods: { group: '', kind: 'Pod', namespaced: true },
  events: { group: '', kind: 'Event', namespaced: true },
  configmaps: { group: '', kind: 'ConfigMap', namespaced: true },
  services: { group: '', kind: 'Service', namespaced: true },
  nodes: { group: '', kind: 'Node', namespaced: false },
  serviceaccounts: { group: '', kind: 'ServiceAccount', namespaced: true },
  roles: { group: 'rbac.authorization.k8s.io', kind: 'Role', namespaced: true },
  rolebindings: { group: 'rbac.authorization.k8s.io', kind: 'RoleBinding', namespaced: true },
  namespaces: { group: '', kind: 'Namespace', namespaced: false },
  deployments: { group: 'apps', kind: 'Deployment', namespaced: true },
  statefulsets: { group: 'apps', kind: 'StatefulSet', namespaced: true },
  daemonsets: { group: 'apps', kind: 'DaemonSet', namespaced: true },
  jobs: { group: 'batch', kind: 'Job', namespaced: true },
  customresourcedefinitions: { group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinition', namespaced: false },
};
const WORKLOADS = new Set(['deployments', 'statefulsets', 'daemonsets']);
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface FakeKubeOptions {
  nodes?: FakeNode[];
  /** Contexts written to the kubeconfig, all pointing at this server; the first is current. */
  contexts?: string[];
  /** How often watches that asked for bookmarks get one. */
  bookmarkIntervalMs?: number;
  /**
   * How long after a CustomResourceDefinition is applied its kind starts being served (discovery
   * and requests), as a real API server takes a moment to establish it. Default 0.
   */
  crdEstablishMs?: number;
}

/** A failure the server injects for matching requests: an HTTP status (with Retry-After), or the connection cut. */
export interface InjectedFault {
  match(method: string, path: string, query: Record<string, string>): boolean;
  fault: { status: number; retryAfterSeconds?: number } | 'reset';
  /** How many matching requests fail before the rest are served (Infinity: all). */
  times: number;
  /** How many it has failed so far. */
  failed?: number;
}

export class FakeKubeServer {
  readonly cluster: FakeCluster;
  readonly requests: RequestRecord[] = [];
  /** Faults injected ahead of normal handling (retry tests): the first rule with failures left that matches wins. */
  readonly faults: InjectedFault[] = [];
  readonly token = `fake-${randomBytes(8).toString('hex')}`;
  /** pods/exec over the websocket channel protocol, backed by real local processes (exec.ts). */
  readonly exec = new FakeExec();
  /** Service-account tokens (TokenRequest) and the Roles that bind them; the server's own token is admin. */
  readonly rbac: FakeRbac;
  url = '';
  kubeconfigPath = '';
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private readonly wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false) });
  /** Open streaming responses (watches, followed logs) → the path they serve. */
  private readonly watches = new Map<http.ServerResponse, string>();
  private readonly sockets = new Set<net.Socket>();
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'fake-kube-'));
  private readonly bookmarkIntervalMs: number;
  private readonly contexts: string[];
  /** Built-in resources plus the custom resources of the definitions applied so far. */
  private readonly served: Record<string, ResourceInfo> = { ...RESOURCES };
  private readonly crdEstablishMs: number;

  constructor(opts: FakeKubeOptions = {}) {
    this.cluster = new FakeCluster(opts.nodes);
    this.rbac = new FakeRbac(this.cluster.store, this.token);
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 100;
    this.contexts = opts.contexts ?? ['kind-fake'];
    this.crdEstablishMs = opts.crdEstablishMs ?? 0;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket as net.Socket, head));
  }

  static async start(opts: FakeKubeOptions = {}): Promise<FakeKubeServer> {
    const s = new FakeKubeServer(opts);
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    const { port } = s.server.address() as net.AddressInfo;
    s.url = `http://127.0.0.1:${port}`;
    s.kubeconfigPath = s.writeKubeconfig();
    return s;
  }

  /** A kubeconfig (plain HTTP needs insecure-skip-tls-verify in client-node) with a token user. */
  writeKubeconfig(file = path.join(this.dir, 'kubeconfig'), contexts = this.contexts, server = this.url): string {
    const yaml = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${server}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: fake-user',
      '  user:',
      `    token: ${this.token}`,
      'contexts:',
      ...contexts.flatMap((c) => [`- name: ${c}`, '  context:', '    cluster: fake', '    user: fake-user', '    namespace: default']),
      `current-context: ${contexts[0]}`,
      '',
    ].join('\n');
    writeFileSync(file, yaml);
    return file;
  }

  writes(): RequestRecord[] {
    return this.requests.filter((r) => WRITE_METHODS.has(r.method));
  }

  /** Apply a manifest as `kubectl create` would. */
  create(obj: Omit<KObj, 'metadata'> & { metadata: { name: string; namespace?: string; [k: string]: unknown } }): KObj {
    const resource = resourceOfKind(obj.kind, this.served);
    const o = structuredClone(obj) as KObj;
    if (this.served[resource]!.namespaced) o.metadata.namespace ??= 'default';
    if (WORKLOADS.has(resource)) o.metadata.generation = 1;
    return this.cluster.store.create(resource, o);
  }

  /** Watch and log-follow responses still open (a client that stopped must leave none). */
  get openStreams(): number {
    return this.watches.size;
  }

  /** Paths of the open streaming responses, e.g. /api/v1/namespaces/default/pods. */
  openStreamPaths(): string[] {
    return [...this.watches.values()];
  }

  /** Cut every open watch connection, as a proxy or API server restart would. */
  dropWatches(): void {
    for (const res of this.watches.keys()) res.destroy();
    this.watches.clear();
  }

  /** The API server goes away: connections cut, port closed, simulation stopped. */
  async close(): Promise<void> {
    this.cluster.stop();
    this.dropWatches();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.exec.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  // ---------- HTTP ----------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const body = await readBody(req);
    const record: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query, contentType: req.headers['content-type'] };
    if (body) record.body = safeJson(body);
    this.requests.push(record);
    const fault = this.faults.find((f) => (f.failed ?? 0) < f.times && f.match(record.method, record.path, query));
    if (fault) {
      fault.failed = (fault.failed ?? 0) + 1;
      if (fault.fault === 'reset') return void req.socket.destroy();
      if (fault.fault.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(fault.fault.retryAfterSeconds));
      return sendStatus(res, fault.fault.status, fault.fault.status === 429 ? 'TooManyRequests' : 'InternalError', `injected fault: HTTP ${fault.fault.status}`);
    }
    try {
      const user = this.rbac.authenticate(req.headers.authorization);
      if (!user) return sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
      if (url.pathname === '/version') {
        return sendJson(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-fake', platform: 'linux/amd64' });
      }
      if (req.method === 'POST' && url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
        return this.exec.accessReview(res, body, (a) => this.rbac.allowed(user, { ...a, group: a.group ?? '' }));
      }
      const served = req.method === 'GET' ? discovery(url.pathname, this.served) : undefined;
      if (served) return sendJson(res, served.code, served.body);
      const route = parseRoute(url.pathname, this.served);
      if (!route) return sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
      const attributes = { verb: verbOf(req.method ?? 'GET', !!route.name, url.searchParams), group: this.served[route.resource]!.group, resource: route.resource, subresource: route.sub, namespace: route.namespace, name: route.name };
      if (!this.rbac.allowed(user, attributes)) return sendStatus(res, 403, 'Forbidden', FakeRbac.forbidden(user, attributes));
      await this.dispatch(req, res, route, url.searchParams, body);
    } catch (err) {
      if (!res.headersSent) sendStatus(res, 500, 'InternalError', String(err));
      else res.destroy();
    }
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse, r: Route, q: URLSearchParams, body: string): Promise<void> {
    const info = this.served[r.resource]!;
    const store = this.cluster.store;
    const method = req.method ?? 'GET';
    if (!r.name) {
      if (method === 'GET' && q.get('watch') === 'true') return this.watch(res, r, q);
      if (method === 'GET') {
        const items = this.select(r, q);
        return sendJson(res, 200, { apiVersion: apiVersion(info), kind: `${info.kind}List`, metadata: { resourceVersion: String(store.resourceVersion) }, items });
      }
      if (method === 'POST') return this.createFromRequest(res, r, info, body);
      if (method === 'DELETE' && r.resource === 'pods') {
        const deleted = this.select(r, q).map((p) => this.cluster.deletePod(p, graceMs(q, this.cluster.timing.terminateMs)) ?? p);
        return sendJson(res, 200, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(store.resourceVersion) }, items: deleted });
      }
      return sendStatus(res, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }

    if (r.sub === 'log' && r.resource === 'pods') return this.podLog(res, r, q);
    if (r.sub === 'token' && r.resource === 'serviceaccounts' && method === 'POST') {
      const request = safeJson(body) as { spec?: { expirationSeconds?: number } } | undefined;
      const issued = this.rbac.issue(r.namespace!, r.name, request?.spec?.expirationSeconds);
      if (!issued) return sendStatus(res, 404, 'NotFound', `serviceaccounts "${r.name}" not found`);
      return sendJson(res, 201, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: { name: r.name, namespace: r.namespace }, spec: request?.spec ?? {}, status: issued });
    }
    if (method === 'PATCH' && !r.sub && isApplyPatch(req.headers['content-type'])) {
      const reply = applyRequest(this.cluster, this.served, { ...r, name: r.name }, q, body);
      if (r.resource === 'customresourcedefinitions' && reply.code < 300) this.establish(reply.body as KObj);
      return sendJson(res, reply.code, reply.body);
    }
    const existing = store.get(r.resource as Resource, r.namespace, r.name);
    if (!existing) return sendStatus(res, 404, 'NotFound', `${qualified(r.resource, info)} "${r.name}" not found`, { name: r.name, group: info.group, kind: r.resource });
    if (r.sub && r.sub !== 'status') return sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');

    if (method === 'GET') return sendJson(res, 200, existing);
    if (method === 'DELETE') {
      if (r.resource === 'pods') return sendJson(res, 200, this.cluster.deletePod(existing, graceMs(q, this.cluster.timing.terminateMs)) ?? existing);
      store.remove(r.resource as Resource, r.namespace, r.name);
      return sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: r.name, kind: r.resource, uid: existing.metadata.uid } });
    }
    if (method === 'PUT' || method === 'PATCH') {
      let next: KObj;
      try {
        next = method === 'PUT' ? (tryJson(body) as KObj) : (this.applyPatch(req.headers['content-type'], existing, tryJson(body)) as KObj);
      } catch (err) {
        if (err instanceof UnsupportedPatch) return sendStatus(res, 415, 'UnsupportedMediaType', err.message);
        if (err instanceof PatchError) return sendStatus(res, 422, 'Invalid', err.message);
        if (err instanceof SyntaxError) return sendStatus(res, 400, 'BadRequest', `error decoding patch: ${err.message}`);
        throw err;
      }
      const rv = (next as Partial<KObj> | undefined)?.metadata?.resourceVersion; // the request body: anything
      if (rv && rv !== existing.metadata.resourceVersion) {
        return sendStatus(res, 409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r.resource, info)} "${r.name}": the object has been modified; please apply your changes to the latest version and try again`, { name: r.name, group: info.group, kind: r.resource });
      }
      const invalid = r.sub === 'status' ? undefined : validate(info.kind, info.group, next);
      if (invalid) return sendStatus(res, 422, 'Invalid', invalid.message, { name: r.name, group: info.group, kind: info.kind, causes: invalid.causes });
      return sendJson(res, 200, store.update(r.resource as Resource, this.admit(r, existing, next)));
    }
    return sendStatus(res, 405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }

  /** What the registry strategy does on update: identity is kept, status comes only via /status, spec changes bump generation. */
  private admit(r: Route, existing: KObj, next: KObj): KObj {
    const out = structuredClone(next);
    out.metadata = { ...out.metadata, name: existing.metadata.name, namespace: existing.metadata.namespace, uid: existing.metadata.uid };
    if (r.sub === 'status') return { ...existing, status: out.status };
    if (WORKLOADS.has(r.resource) || r.resource === 'pods') out.status = existing.status;
    if (WORKLOADS.has(r.resource)) {
      const changed = JSON.stringify(existing.spec) !== JSON.stringify(out.spec);
      out.metadata.generation = (existing.metadata.generation ?? 1) + (changed ? 1 : 0);
    }
    return out;
  }

  /** Serve a definition's kind (after crdEstablishMs) and mark it Established, as the API server does. */
  private establish(crd: KObj): void {
    const spec = crd.spec as { group: string; scope: string; names: { plural: string; kind: string }; versions?: { name: string }[] };
    const serve = () => {
      this.served[spec.names.plural] = { group: spec.group, kind: spec.names.kind, namespaced: spec.scope === 'Namespaced', version: spec.versions?.[0]?.name ?? 'v1' };
      const live = this.cluster.store.get('customresourcedefinitions', undefined, crd.metadata.name);
      if (live) this.cluster.store.update('customresourcedefinitions', { ...live, status: { conditions: [{ type: 'Established', status: 'True' }] } });
    };
    if (this.crdEstablishMs > 0) setTimeout(serve, this.crdEstablishMs).unref();
    else serve();
  }

  private applyPatch(contentType: string | undefined, doc: KObj, patch: unknown): unknown {
    const type = (contentType ?? '').split(';')[0]!.trim();
    if (type === 'application/json-patch+json') return applyJsonPatch(doc, patch);
    if (type === 'application/merge-patch+json') return applyMergePatch(doc, patch);
    if (type === 'application/strategic-merge-patch+json') return applyStrategicMergePatch(doc, patch);
    throw new UnsupportedPatch(`the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got "${type}")`);
  }

  private createFromRequest(res: http.ServerResponse, r: Route, info: ResourceInfo, body: string): void {
    const parsed = tryJson(body) as Partial<KObj> | undefined; // the request body: anything
    if (!parsed?.metadata?.name) return sendStatus(res, 422, 'Invalid', `${info.kind} is invalid: metadata.name: Required value`);
    const obj = parsed as KObj;
    if (info.namespaced) obj.metadata.namespace = r.namespace;
    const invalid = validate(info.kind, info.group, obj);
    if (invalid) return sendStatus(res, 422, 'Invalid', invalid.message, { name: obj.metadata.name, group: info.group, kind: info.kind, causes: invalid.causes });
    if (WORKLOADS.has(r.resource)) obj.metadata.generation = 1;
    try {
      return sendJson(res, 201, this.cluster.store.create(r.resource as Resource, obj));
    } catch (err) {
      if (err instanceof AlreadyExists) {
        return sendStatus(res, 409, 'AlreadyExists', `${qualified(r.resource, info)} "${obj.metadata.name}" already exists`, { name: obj.metadata.name, group: info.group, kind: r.resource });
      }
      throw err;
    }
  }

  private select(r: Route, q: URLSearchParams): KObj[] {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'));
    return this.cluster.store.list(r.resource as Resource, r.namespace).filter((o) => labels(o.metadata.labels ?? {}) && fields(o));
  }

  // ---------- watch ----------

  private watch(res: http.ServerResponse, r: Route, q: URLSearchParams): void {
    const store = this.cluster.store;
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'));
    const matches = (o: KObj) => (r.namespace === undefined || o.metadata.namespace === r.namespace) && labels(o.metadata.labels ?? {}) && fields(o);
    const info = this.served[r.resource]!;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    const send = (type: string, object: unknown) => res.write(JSON.stringify({ type, object }) + '\n');

    const rvParam = q.get('resourceVersion');
    if (!rvParam || rvParam === '0') {
      // No resourceVersion: synthetic ADDED for the current state, then changes.
      for (const o of store.list(r.resource as Resource, r.namespace)) if (matches(o)) send('ADDED', o);
    } else {
      const backlog = store.changesSince(r.resource as Resource, Number(rvParam));
      if (backlog === 'expired') {
        send('ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${rvParam} (${store.resourceVersion})`, reason: 'Expired', code: 410 });
        res.end();
        return;
      }
      for (const c of backlog) if (matches(c.object)) send(c.type, c.object);
    }

    const onChange = (c: Change) => {
      if (c.resource === r.resource && matches(c.object)) send(c.type, c.object);
    };
    store.on('change', onChange);
    this.watches.set(res, routePath(r, this.served));
    const bookmarks = q.get('allowWatchBookmarks') === 'true'
      ? setInterval(() => send('BOOKMARK', { kind: info.kind, apiVersion: apiVersion(info), metadata: { resourceVersion: String(store.resourceVersion) } }), this.bookmarkIntervalMs)
      : undefined;
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? 0);
    const timeout = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined;
    res.on('close', () => {
      store.off('change', onChange);
      this.watches.delete(res);
      clearInterval(bookmarks);
      clearTimeout(timeout);
    });
  }

  // ---------- logs ----------

  private podLog(res: http.ServerResponse, r: Route, q: URLSearchParams): void {
    const pod = this.cluster.store.get('pods', r.namespace, r.name!);
    if (!pod) return sendStatus(res, 404, 'NotFound', `pods "${r.name}" not found`, { name: r.name, kind: 'pods' });
    const names: string[] = (pod.spec.containers ?? []).map((c: { name: string }) => c.name);
    const container = q.get('container') || (names.length === 1 ? names[0] : undefined);
    if (!container) return sendStatus(res, 400, 'BadRequest', `a container name must be specified for pod ${r.name}, choose one of: [${names.join(' ')}]`);
    if (!names.includes(container)) return sendStatus(res, 400, 'BadRequest', `container ${container} is not valid for pod ${r.name}`);
    const log = this.cluster.kubelet.logs(pod.metadata.uid, container);
    const previous = q.get('previous') === 'true';
    const status = (pod.status?.containerStatuses ?? []).find((s: { name: string }) => s.name === container);
    if (previous && !log?.previous) return sendStatus(res, 400, 'BadRequest', `previous terminated container "${container}" in pod "${r.name}" not found`);
    if (!previous && (!status || (status.state?.waiting && !status.lastState?.terminated && !status.started))) {
      const reason = status?.state?.waiting?.reason ?? 'ContainerCreating';
      return sendStatus(res, 400, 'BadRequest', `container "${container}" in pod "${r.name}" is waiting to start: ${reason}`);
    }
    let lines = (previous ? log?.previous : log?.current) ?? [];
    const tail = q.get('tailLines');
    if (tail) lines = lines.slice(-Number(tail));
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    for (const l of lines) res.write(l + '\n');
    const alive = status?.state?.running && !pod.metadata.deletionTimestamp;
    if (previous || q.get('follow') !== 'true' || !alive) {
      res.end();
      return;
    }
    const kubelet = this.cluster.kubelet;
    const onLog = (uid: string, c: string, line: string) => {
      if (uid === pod.metadata.uid && c === container) res.write(line + '\n');
    };
    const onEnd = (uid: string, c: string) => {
      if (uid === pod.metadata.uid && c === container) res.end();
    };
    kubelet.on('log', onLog);
    kubelet.on('log-end', onEnd);
    this.watches.set(res, `${routePath(r, this.served)}/log`);
    res.on('close', () => {
      kubelet.off('log', onLog);
      kubelet.off('log-end', onEnd);
      this.watches.delete(res);
    });
  }

  // ---------- port-forward (WebSocket) ----------

  private upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams) });
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
    const reject = (code: number, message: string) => {
      socket.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`);
    };
    const user = this.rbac.authenticate(req.headers.authorization);
    if (!user) return reject(401, 'Unauthorized');
    const exec = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
    // Kubernetes ≥ 1.30 authorizes a websocket exec or port-forward as "create" on the subresource.
    const denied = (namespace: string, name: string, subresource: string) => {
      const a = { verb: 'create', group: '', resource: 'pods', subresource, namespace, name };
      return this.rbac.allowed(user, a) ? undefined : FakeRbac.forbidden(user, a);
    };
    if (exec) {
      const refused = denied(exec[1]!, exec[2]!, 'exec');
      return this.exec.upgrade(req, socket, head, url, exec[1]!, this.cluster.store.get('pods', exec[1]!, exec[2]!), user.name, refused);
    }
    if (!m) return reject(404, 'not found');
    const refused = denied(m[1]!, m[2]!, 'portforward');
    if (refused) return reject(403, refused);
    const pod = this.cluster.store.get('pods', m[1], m[2]!);
    if (!pod) return reject(404, `pods "${m[2]}" not found`);
    const port = Number(url.searchParams.get('ports'));
    if (!Number.isInteger(port) || port <= 0) return reject(400, 'invalid port');
    this.wss.handleUpgrade(req, socket, head, (ws) => handlePortForward(ws, port, () => this.cluster.kubelet.connect(pod, port)));
  }
}

class UnsupportedPatch extends Error {}

interface Route {
  resource: string;
  namespace?: string;
  name?: string;
  sub?: string;
}

/** /api/v1/... and /apis/<group>/<version>/... → resource, namespace, name, subresource. */
function parseRoute(pathname: string, served: Record<string, ResourceInfo>): Route | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let rest: string[];
  let group: string;
  let version: string;
  if (parts[0] === 'api' && parts[1] === 'v1') [group, version, rest] = ['', 'v1', parts.slice(2)];
  else if (parts[0] === 'apis' && parts[1] && parts[2]) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
  else return undefined;
  let route: Route;
  if (rest[0] === 'namespaces' && rest.length >= 3) route = { namespace: rest[1], resource: rest[2]!, name: rest[3], sub: rest[4] };
  else route = { resource: rest[0] ?? '', name: rest[1], sub: rest[2] };
  const info = served[route.resource];
  if (!info || info.group !== group || (info.version ?? 'v1') !== version || (info.namespaced && route.namespace === undefined && route.name !== undefined)) return undefined;
  return route;
}

function routePath(r: Route, served: Record<string, ResourceInfo>): string {
  const info = served[r.resource]!;
  const base = info.group ? `/apis/${info.group}/${info.version ?? 'v1'}` : '/api/v1';
  return [base, ...(r.namespace ? ['namespaces', r.namespace] : []), r.resource, ...(r.name ? [r.name] : [])].join('/');
}

function resourceOfKind(kind: string, served: Record<string, ResourceInfo>): Resource {
  const entry = Object.entries(served).find(([, i]) => i.kind === kind);
  if (!entry) throw new Error(`fake-kube does not serve kind ${kind}`);
  return entry[0] as Resource;
}

const apiVersion = (info: ResourceInfo) => (info.group ? `${info.group}/${info.version ?? 'v1'}` : 'v1');
const qualified = (resource: string, info: ResourceInfo) => (info.group ? `${resource}.${info.group}` : resource);

function graceMs(q: URLSearchParams, fallback: number): number {
  const g = q.get('gracePeriodSeconds');
  return g === null ? fallback : Math.min(Number(g) * 1000, fallback);
}

function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: http.ServerResponse, code: number, reason: string, message: string, details?: Record<string, unknown>): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code });
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function tryJson(text: string): unknown {
  return text ? JSON.parse(text) : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export type { FakeNode } from './cluster.js';
export type { PodScenario, Timing } from './kubelet.js';
