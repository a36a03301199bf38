import type { V1ContainerStatus, V1DaemonSet, V1Deployment, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { desiredReplicas, podUid, type WorkloadKind, type WorkloadObject } from './workload.js';
import type { PodSummary } from '../types.js';

/**
 * Pure rollout arithmetic: is the rollout finished, and is any new pod in a state that will not fix
 * itself. "Finished" means what `kubectl rollout status` means (observedGeneration caught up,
 * updated == desired, available updated == desired, no old replica still counted), checked on
 * the pods too: the wanted number of new-version pods is Ready and no old pod is active. A pod
 * with a deletionTimestamp is not active: a real API server keeps it listed for its grace period
 * (seconds) while the new version already serves, and waiting for it made "ready" 2–4 s late.
 *
 * "New version" is described by what deploy changed (the image, the restartedAt annotation, or the
 * pods it deleted) rather than by which pods existed before: after a rollback to a template the
 * workload ran before (set-image back to the previous image), the controller keeps the existing
 * pods of that template, and they are exactly the ones to wait for.
 */

export interface Baseline {
  kind: WorkloadKind;
  name: string;
  namespace: string;
  /** Pod label selector of the workload. */
  selector: string;
  container: string;
  /** The workload generation after our write; the controller must have observed it. */
  generation: number;
  /** What a pod of the new version looks like; pods that do not match must disappear. */
  current: CurrentPod;
  startedAt: number;
}

export interface CurrentPod {
  /** set-image: the container runs this image. */
  image?: string;
  /** rollout-restart: the template annotation kubectl.kubernetes.io/restartedAt has this value. */
  restartedAt?: string;
  /** delete-pods: not one of the deleted pods. */
  notUids?: Set<string>;
}

export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

export function isCurrentPod(p: V1Pod, b: Pick<Baseline, 'container' | 'current'>): boolean {
  const { image, restartedAt, notUids } = b.current;
  if (image !== undefined && p.spec?.containers.find((c) => c.name === b.container)?.image !== image) return false;
  if (restartedAt !== undefined && p.metadata?.annotations?.[RESTARTED_AT] !== restartedAt) return false;
  if (notUids?.has(podUid(p))) return false;
  return true;
}

export interface Assessment {
  done: boolean;
  desired: number;
  newPods: V1Pod[];
  readyNew: V1Pod[];
  oldLeft: V1Pod[];
  statusDone: boolean;
  summary: string;
}

export function assess(kind: WorkloadKind, workload: WorkloadObject, pods: V1Pod[], baseline: Baseline): Assessment {
  const desired = desiredReplicas(kind, workload);
  const statusDone = statusComplete(kind, workload, baseline.generation);
  const isNew = (p: V1Pod) => isCurrentPod(p, baseline) && isCurrentRevision(kind, workload, p);
  const terminating = (p: V1Pod) => !!p.metadata?.deletionTimestamp;
  // Old pods still serving: what rollout status counts as "old replicas pending termination".
  const oldLeft = pods.filter((p) => !isNew(p) && !terminating(p));
  const newPods = pods.filter((p) => isNew(p) && !terminating(p));
  const readyNew = newPods.filter(isPodReady);
  const done = statusDone && oldLeft.length === 0 && readyNew.length >= desired;
  const parts = [`${Math.min(readyNew.length, desired)}/${desired} new pod${desired === 1 ? '' : 's'} ready`];
  if (oldLeft.length) parts.push(`${oldLeft.length} old pod${oldLeft.length === 1 ? '' : 's'} still running`);
  if (!statusDone && readyNew.length >= desired) parts.push('waiting for the controller to report the rollout');
  return { done, desired, newPods, readyNew, oldLeft, statusDone, summary: parts.join(', ') };
}

/** The checks of `kubectl rollout status` for each kind. */
export function statusComplete(kind: WorkloadKind, w: WorkloadObject, generation: number): boolean {
  const observed = w.status?.observedGeneration ?? 0;
  if (observed < Math.max(generation, w.metadata?.generation ?? 0)) return false;
  if (kind === 'deployment') {
    const d = w as V1Deployment;
    const replicas = d.spec?.replicas ?? 1;
    const s = d.status ?? {};
    const updated = s.updatedReplicas ?? 0;
    return updated >= replicas && (s.replicas ?? 0) <= updated && (s.availableReplicas ?? 0) >= updated;
  }
  if (kind === 'statefulset') {
    const st = w as V1StatefulSet;
    if (st.spec?.updateStrategy?.type === 'OnDelete') return true;
    const replicas = st.spec?.replicas ?? 1;
    const s = st.status ?? { replicas: 0 };
    if ((s.readyReplicas ?? 0) < replicas) return false;
    const partition = st.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
    if (partition > 0) return (s.updatedReplicas ?? 0) >= replicas - partition;
    return (s.updatedReplicas ?? 0) >= replicas && (!s.updateRevision || s.updateRevision === s.currentRevision);
  }
  const ds = w as V1DaemonSet;
  const s = ds.status;
  if (!s) return false;
  return (s.updatedNumberScheduled ?? 0) >= s.desiredNumberScheduled && (s.numberAvailable ?? 0) >= s.desiredNumberScheduled;
}

/** StatefulSets name their target revision; pods of another revision are not "new" even if we never saw them. */
function isCurrentRevision(kind: WorkloadKind, w: WorkloadObject, p: V1Pod): boolean {
  if (kind !== 'statefulset') return true;
  const rev = (w as V1StatefulSet).status?.updateRevision;
  return !rev || p.metadata?.labels?.['controller-revision-hash'] === rev;
}

/** A Deployment past its progressDeadlineSeconds says so in a condition. */
export function deadlineExceeded(kind: WorkloadKind, w: WorkloadObject): string | undefined {
  if (kind !== 'deployment') return undefined;
  const c = (w as V1Deployment).status?.conditions?.find((x) => x.type === 'Progressing');
  return c?.status === 'False' && c.reason === 'ProgressDeadlineExceeded' ? (c.message ?? 'progress deadline exceeded') : undefined;
}

/** What an editor shows of a pod: name, readiness, restarts, phase. */
export function summarizePod(p: V1Pod): PodSummary {
  const restarts = (p.status?.containerStatuses ?? []).reduce((sum, c) => sum + c.restartCount, 0);
  return { name: p.metadata?.name ?? '?', ready: isPodReady(p), restarts, phase: p.status?.phase ?? 'Unknown' };
}

export function isPodReady(p: V1Pod): boolean {
  return !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Waiting reasons that do not fix themselves within a dev loop: fail at once instead of at the timeout. */
const FATAL_WAITING = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);
const FATAL_TERMINATED = new Set(['OOMKilled', 'StartError', 'ContainerCannotRun']);

export interface Problem {
  pod: V1Pod;
  container: string;
  status: V1ContainerStatus;
}

/** The first new pod container in a state that will not become ready by waiting. */
export function fatalProblem(newPods: V1Pod[], preferContainer?: string): Problem | undefined {
  for (const pod of newPods) {
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    statuses.sort((a, b) => Number(b.name === preferContainer) - Number(a.name === preferContainer));
    for (const cs of statuses) {
      if (cs.state?.waiting?.reason && FATAL_WAITING.has(cs.state.waiting.reason)) return { pod, container: cs.name, status: cs };
      const terminated = cs.state?.terminated ?? (cs.restartCount > 0 ? cs.lastState?.terminated : undefined);
      if (terminated?.reason && FATAL_TERMINATED.has(terminated.reason)) return { pod, container: cs.name, status: cs };
    }
  }
  return undefined;
}
