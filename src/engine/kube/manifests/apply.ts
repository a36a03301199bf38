import { ApiException } from '@kubernetes/client-node';
import { StageError } from '../../stages/stage.js';
import { describeApiError, isUnreachable } from '../client.js';
import { refOf, UnknownKind, type DynamicClient, type ObjectRef } from './dynamic-client.js';
import { FIELD_MANAGER, type PreparedObject } from './prepare.js';
import { objectLabel, where, type KubeObject } from './source.js';

/**
 * Server-side apply of prepared objects, in order. A conflict with another field manager is
 * forced only when every conflicting field is one Tightloop owns by definition — the image it
 * injected — and is otherwise reported naming the manager and the fields. Rejections (422) name
 * the file, document, line, object and the server's field message.
 */

export interface AppliedObject {
  ref: ObjectRef;
  /** The object as the server returned it (generation, uid). */
  live: KubeObject;
  prepared: PreparedObject;
}

export interface ApplyOptions {
  defaultNamespace: string;
  signal: AbortSignal;
  context: string;
  server: string;
  log(text: string): void;
  /** Called after each successful apply (so a later failure still knows what was applied). */
  onApplied?(ref: ObjectRef): void;
  /** Default ESTABLISH_TIMEOUT_MS. */
  establishTimeoutMs?: number;
}

export async function applyObjects(client: DynamicClient, objects: PreparedObject[], opts: ApplyOptions): Promise<AppliedObject[]> {
  // Resolve every object's resource (and namespace) before the first write, so an unknown kind
  // leaves the cluster untouched — except for kinds a CustomResourceDefinition in the same
  // manifests defines, which only exist once it is applied.
  const definedHere = new Set(objects.filter((o) => o.object.kind === 'CustomResourceDefinition').map((o) => crdKind(o.object)).filter(Boolean));
  for (const p of objects) {
    if (definedHere.has(p.object.kind)) continue;
    await namespaceFor(client, p, opts);
  }
  const applied: AppliedObject[] = [];
  for (const p of objects) {
    const body = structuredClone(p.object);
    if (definedHere.has(p.object.kind)) await waitUntilServed(client, p, opts);
    const ns = await namespaceFor(client, p, opts);
    if (ns) body.metadata.namespace = ns;
    else delete body.metadata.namespace;
    let live: KubeObject;
    try {
      live = await client.apply(body, { force: false, signal: opts.signal });
    } catch (err) {
      const conflict = conflictOf(err);
      if (!conflict) throw applyFailure(err, p, opts);
      const owned = new Set(p.injected.map((i) => i.fieldPath));
      const foreign = conflict.filter((c) => !owned.has(c.field));
      if (foreign.length) throw conflictError(p, foreign);
      opts.log(`${objectLabel(p.object)}: took over ${conflict.map((c) => c.field).join(', ')} from ${managers(conflict)} (the image Tightloop builds)`);
      try {
        live = await client.apply(body, { force: true, signal: opts.signal });
      } catch (again) {
        throw applyFailure(again, p, opts);
      }
    }
    applied.push({ ref: refOf(body), live, prepared: p });
    opts.onApplied?.(refOf(body));
  }
  return applied;
}

async function namespaceFor(client: DynamicClient, p: PreparedObject, opts: ApplyOptions): Promise<string | undefined> {
  let resource;
  try {
    resource = await client.resourceFor(p.object.apiVersion, p.object.kind);
  } catch (err) {
    throw applyFailure(err, p, opts);
  }
  if (!resource) throw applyFailure(new UnknownKind(p.object.apiVersion, p.object.kind), p, opts);
  return resource.namespaced ? (p.object.metadata.namespace ?? opts.defaultNamespace) : undefined;
}

/** How long a kind defined in the same manifests may take to be served after its definition is applied. */
export const ESTABLISH_TIMEOUT_MS = 60_000;

/**
 * The API server serves a custom resource only once its definition is established, a moment after
 * the definition is applied: until then its kind is unknown. Ask again, with a short backoff.
 */
async function waitUntilServed(client: DynamicClient, p: PreparedObject, opts: ApplyOptions): Promise<void> {
  const end = Date.now() + (opts.establishTimeoutMs ?? ESTABLISH_TIMEOUT_MS);
  let delay = 25;
  for (;;) {
    let served;
    try {
      served = await client.resourceFor(p.object.apiVersion, p.object.kind);
    } catch (err) {
      throw applyFailure(err, p, opts);
    }
    if (served) return;
    if (Date.now() >= end || opts.signal.aborted) {
      throw new StageError(`${where(p.source)}: ${objectLabel(p.object)}: kind ${p.object.kind} (${p.object.apiVersion}) is still not served ${Math.round((opts.establishTimeoutMs ?? ESTABLISH_TIMEOUT_MS) / 1000)} s after its CustomResourceDefinition was applied (context ${opts.context}).`, {
        hint: `Check the definition's group, versions and names.kind against this object: kubectl get crd -o yaml shows its Established condition.`,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 500);
  }
}

function crdKind(o: KubeObject): string | undefined {
  return (o as { spec?: { names?: { kind?: string } } }).spec?.names?.kind;
}

interface Conflict {
  field: string;
  message: string;
}

/** The FieldManagerConflict causes of a 409 from an apply, or undefined for any other failure. */
function conflictOf(err: unknown): Conflict[] | undefined {
  if (!(err instanceof ApiException) || err.code !== 409) return undefined;
  const causes = statusBody(err)?.details?.causes ?? [];
  const conflicts = causes.filter((c) => c.reason === 'FieldManagerConflict').map((c) => ({ field: c.field ?? '', message: c.message ?? '' }));
  return conflicts.length ? conflicts : undefined;
}

function managers(conflicts: Conflict[]): string {
  const names = [...new Set(conflicts.map((c) => /conflict with "([^"]+)"/.exec(c.message)?.[1] ?? c.message))];
  return names.map((n) => `"${n}"`).join(', ');
}

function conflictError(p: PreparedObject, conflicts: Conflict[]): StageError {
  const fields = conflicts.map((c) => `${c.field} (${/conflict with "([^"]+)"/.exec(c.message)?.[1] ?? c.message})`);
  return new StageError(`${where(p.source)}: ${objectLabel(p.object)} conflicts with another field manager: ${fields.join(', ')} ${conflicts.length === 1 ? 'is' : 'are'} managed by ${managers(conflicts)}, and Tightloop applies a different value.`, {
    hint: `Remove the field from ${conflicts.length === 1 ? 'the manifest' : 'the manifests'}, or let Tightloop own it: kubectl apply --server-side --force-conflicts --field-manager ${FIELD_MANAGER} -f <that file>.`,
  });
}

interface StatusBody {
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string; field?: string }[] };
}

function statusBody(err: ApiException<unknown>): StatusBody | undefined {
  const body = err.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body };
    }
  }
  return body && typeof body === 'object' ? (body as StatusBody) : undefined;
}

/** One sentence naming where the object came from, what it is, and the server's own words. */
export function applyFailure(err: unknown, p: PreparedObject, opts: Pick<ApplyOptions, 'context' | 'server'>): StageError {
  if (err instanceof StageError) return err;
  const at = `${where(p.source)}: ${objectLabel(p.object)}`;
  if (err instanceof UnknownKind) {
    return new StageError(`${at}: unknown kind ${p.object.kind} in ${p.object.apiVersion} (context ${opts.context}).`, {
      hint: 'Check apiVersion and kind (kubectl api-resources lists what the cluster serves), or install the CustomResourceDefinition first.',
    });
  }
  if (err instanceof ApiException) {
    const body = statusBody(err);
    const causes = (body?.details?.causes ?? []).filter((c) => c.field || c.message);
    if (err.code === 422 || err.code === 400) {
      const what = causes.length ? causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join('; ') : (body?.message ?? `HTTP ${err.code}`);
      return new StageError(`${at} was rejected by the API server: ${what}.`, { hint: 'Fix the manifest; nothing after this object was applied.' });
    }
    if (err.code === 404) {
      return new StageError(`${at} could not be applied: ${body?.message ?? 'not found'}.`, {
        hint: 'Is its namespace missing? Add a Namespace object to the manifests or create it.',
      });
    }
    if (err.code === 403) {
      return new StageError(`${at} could not be applied: the API server refused it (${describeApiError(err)}).`, { hint: `Your kubeconfig user lacks RBAC permission in context ${opts.context}.` });
    }
    return new StageError(`${at} could not be applied: ${describeApiError(err)}.`);
  }
  if (isUnreachable(err)) {
    return new StageError(`Cannot reach the Kubernetes API at ${opts.server} (context ${opts.context}): ${describeApiError(err)}.`, {
      hint: `Is the cluster running? Try: kubectl --context ${opts.context} get nodes`,
    });
  }
  return new StageError(`${at} could not be applied: ${describeApiError(err)}.`);
}
