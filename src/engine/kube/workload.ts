import type { V1DaemonSet, V1Deployment, V1LabelSelector, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { StageError } from '../stages/stage.js';
import { apiFailure, type KubeClient } from './client.js';

/**
 * Workload addressing: `deployment/api` or `deployment:app=api` (a label selector on the workload
 * objects themselves), and the per-kind calls, so the rest of the code is kind-agnostic.
 */

export type WorkloadKind = 'deployment' | 'statefulset' | 'daemonset';
export type WorkloadObject = V1Deployment | V1StatefulSet | V1DaemonSet;

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name?: string;
  selector?: string;
}

export interface Workload {
  kind: WorkloadKind;
  name: string;
  namespace: string;
  object: WorkloadObject;
}

export function parseWorkload(spec: string, namespace: string): WorkloadRef {
  const m = /^(deployment|statefulset|daemonset)([/:])(.+)$/i.exec(spec.trim());
  if (!m) throw new StageError(`Workload "${spec}" is not of the form deployment/NAME or deployment:label=value.`);
  const kind = m[1]!.toLowerCase() as WorkloadKind;
  return m[2] === '/' ? { kind, namespace, name: m[3]! } : { kind, namespace, selector: m[3]! };
}

export const label = (w: { kind: WorkloadKind; name?: string; selector?: string }) => `${w.kind}/${w.name ?? `(${w.selector})`}`;

/** The API collection path (for watches). */
export function collectionPath(kind: WorkloadKind, namespace: string): string {
  return `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/${kind}s`;
}

type Opts = ReturnType<KubeClient['options']>;

export function readWorkload(c: KubeClient, kind: WorkloadKind, namespace: string, name: string, o: Opts): Promise<WorkloadObject> {
  const p = { name, namespace };
  if (kind === 'deployment') return c.apps.readNamespacedDeployment(p, o);
  if (kind === 'statefulset') return c.apps.readNamespacedStatefulSet(p, o);
  return c.apps.readNamespacedDaemonSet(p, o);
}

export async function listWorkloads(
  c: KubeClient,
  kind: WorkloadKind,
  namespace: string,
  query: { labelSelector?: string; fieldSelector?: string },
  o: Opts,
): Promise<{ items: WorkloadObject[]; resourceVersion: string }> {
  const p = { namespace, ...query };
  const list = kind === 'deployment' ? await c.apps.listNamespacedDeployment(p, o) : kind === 'statefulset' ? await c.apps.listNamespacedStatefulSet(p, o) : await c.apps.listNamespacedDaemonSet(p, o);
  return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
}

export function patchWorkload(c: KubeClient, kind: WorkloadKind, namespace: string, name: string, body: object, o: Opts): Promise<WorkloadObject> {
  const p = { name, namespace, body, fieldManager: 'tightloop' };
  if (kind === 'deployment') return c.apps.patchNamespacedDeployment(p, o);
  if (kind === 'statefulset') return c.apps.patchNamespacedStatefulSet(p, o);
  return c.apps.patchNamespacedDaemonSet(p, o);
}

/** Find the one workload a ref names; errors say what to fix. */
export async function resolveWorkload(c: KubeClient, ref: WorkloadRef, signal: AbortSignal): Promise<Workload> {
  try {
    if (ref.name) {
      const object = await readWorkload(c, ref.kind, ref.namespace, ref.name, c.options(signal));
      return { kind: ref.kind, name: ref.name, namespace: ref.namespace, object };
    }
    const { items } = await listWorkloads(c, ref.kind, ref.namespace, { labelSelector: ref.selector }, c.options(signal));
    if (items.length !== 1) {
      const names = items.map((i) => `${ref.kind}/${i.metadata?.name}`);
      throw new StageError(
        items.length === 0
          ? `No ${ref.kind} matches the label selector "${ref.selector}" in namespace ${ref.namespace} (context ${c.context}).`
          : `The label selector "${ref.selector}" matches ${items.length} ${ref.kind}s in namespace ${ref.namespace}: ${names.join(', ')}.`,
        { hint: items.length === 0 ? 'Apply the workload manifests first, or fix services.<name>.deploy.workload.' : `Name one explicitly, e.g. workload: ${names[0]}.` },
      );
    }
    const object = items[0]!;
    return { kind: ref.kind, name: object.metadata!.name!, namespace: ref.namespace, object };
  } catch (err) {
    throw apiFailure(err, c, `read ${label(ref)} in namespace ${ref.namespace}`);
  }
}

/** The pods' label selector as the API wants it in ?labelSelector=. */
export function selectorString(sel: V1LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

export function podSelector(w: Workload): string {
  const s = selectorString(w.object.spec?.selector);
  if (!s) throw new StageError(`${label(w)} has an empty pod selector; Tightloop cannot tell which pods are its own.`);
  return s;
}

/** The container to update: the configured one, or the only one. */
export function pickContainer(w: Workload, wanted: string | undefined): string {
  const names = (w.object.spec?.template.spec?.containers ?? []).map((c) => c.name);
  if (wanted) {
    if (!names.includes(wanted)) throw new StageError(`${label(w)} has no container "${wanted}" (it has: ${names.join(', ')}).`, { hint: 'Fix services.<name>.deploy.container.' });
    return wanted;
  }
  if (names.length === 1) return names[0]!;
  throw new StageError(`${label(w)} has ${names.length} containers (${names.join(', ')}); say which one to update.`, {
    hint: `Set services.<name>.deploy.container, e.g. container: ${names[0]}.`,
  });
}

export function desiredReplicas(kind: WorkloadKind, w: WorkloadObject): number {
  if (kind === 'daemonset') return (w as V1DaemonSet).status?.desiredNumberScheduled ?? 0;
  return (w as V1Deployment | V1StatefulSet).spec?.replicas ?? 1;
}

export const podUid = (p: V1Pod) => p.metadata?.uid ?? '';
export const podName = (p: V1Pod) => p.metadata?.name ?? '?';
