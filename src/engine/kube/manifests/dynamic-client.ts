import { HttpMethod, KubernetesObjectApi, type KubeConfig, type RequestContext, type V1APIResource } from '@kubernetes/client-node';
import { FIELD_MANAGER } from './prepare.js';
import type { KubeObject } from './source.js';

/**
 * Any kind, by apiVersion + kind, through client-node's KubernetesObjectApi (its discovery and
 * request pipeline: auth, TLS, middleware). Requests are built here rather than through its
 * typed helpers because (1) an apply body must be the user's object exactly — its serializer
 * drops fields it does not know — and (2) every request needs a cancellation signal and deadline.
 */

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export const refOf = (o: KubeObject): ObjectRef => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, ...(o.metadata.namespace && { namespace: o.metadata.namespace }) });

export class DynamicClient extends KubernetesObjectApi {
  constructor(
    kc: KubeConfig,
    private readonly requestTimeoutMs = 15_000,
  ) {
    super(KubernetesObjectApi.makeApiClient(kc)['configuration']);
  }

  /** Discovery: the resource for apiVersion + kind, or undefined when the server does not serve it. */
  async resourceFor(apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
    try {
      return await this.resource(apiVersion, kind);
    } catch (err) {
      // The group/version itself is unknown to the server.
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  /** Server-side apply (application/apply-patch+yaml; JSON is YAML), fieldManager tightloop. */
  async apply(object: KubeObject, opts: { force: boolean; signal: AbortSignal }): Promise<KubeObject> {
    const path = await this.pathOf(refOf(object), true);
    const ctx = this.request(path, HttpMethod.PATCH, opts.signal);
    ctx.setHeaderParam('Content-Type', 'application/apply-patch+yaml');
    ctx.setQueryParam('fieldManager', FIELD_MANAGER);
    if (opts.force) ctx.setQueryParam('force', 'true');
    ctx.setBody(JSON.stringify(object));
    return this.requestPromise<KubeObject>(ctx, 'any');
  }

  async get(ref: ObjectRef, signal: AbortSignal): Promise<KubeObject> {
    return this.requestPromise<KubeObject>(this.request(await this.pathOf(ref, true), HttpMethod.GET, signal), 'any');
  }

  /** Delete in the background (dependents such as pods are garbage-collected by the cluster). */
  async remove(ref: ObjectRef, signal: AbortSignal): Promise<void> {
    const ctx = this.request(await this.pathOf(ref, true), HttpMethod.DELETE, signal);
    ctx.setHeaderParam('Content-Type', 'application/json');
    ctx.setBody(JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' }));
    await this.requestPromise<KubeObject>(ctx, 'any');
  }

  /** Objects of one kind; namespace undefined = all namespaces (or cluster-scoped). */
  async listObjects(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    query: { labelSelector?: string; fieldSelector?: string },
    signal: AbortSignal,
  ): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const path = await this.pathOf({ apiVersion, kind, name: '', ...(namespace && { namespace }) }, false);
    const ctx = this.request(path, HttpMethod.GET, signal);
    for (const [k, v] of Object.entries(query)) if (v) ctx.setQueryParam(k, v);
    const list = (await this.requestPromise<KubeObject>(ctx, 'any')) as unknown as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
    return { items: (list.items ?? []).map((o) => ({ ...o, apiVersion, kind })), resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  /** The URL path; a namespaced object without a namespace is an error here (defaults are set before). */
  async pathOf(ref: ObjectRef, withName: boolean): Promise<string> {
    const resource = await this.resourceFor(ref.apiVersion, ref.kind);
    if (!resource) throw new UnknownKind(ref.apiVersion, ref.kind);
    const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
    const parts = [base];
    if (resource.namespaced && ref.namespace) parts.push('namespaces', encodeURIComponent(ref.namespace));
    parts.push(resource.name);
    if (withName) parts.push(encodeURIComponent(ref.name));
    return parts.join('/');
  }

  private request(path: string, method: HttpMethod, signal: AbortSignal): RequestContext {
    const ctx = this.configuration.baseServer.makeRequestContext(path, method);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setSignal(AbortSignal.any([signal, AbortSignal.timeout(this.requestTimeoutMs)]));
    return ctx;
  }
}

export class UnknownKind extends Error {
  constructor(
    readonly apiVersion: string,
    readonly kind: string,
  ) {
    super(`the server does not serve kind ${kind} in ${apiVersion}`);
    this.name = 'UnknownKind';
  }
}
