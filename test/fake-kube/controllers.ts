import { createHash } from 'node:crypto';
import type { FakeCluster } from './cluster.js';
import { parseLabelSelector } from './selectors.js';
import type { Change, KObj, Resource } from './store.js';

/**
 * kube-controller-manager stand-in for Deployments, StatefulSets and DaemonSets. Each reconcile
 * reads the workload and the pods it owns, creates / deletes pods the way the real controller's
 * rolling update does (surge + maxUnavailable for Deployments, highest ordinal first for
 * StatefulSets, one node at a time for DaemonSets), and writes status only when it changed.
 */

type WorkloadResource = 'deployments' | 'statefulsets' | 'daemonsets';
const WORKLOADS: WorkloadResource[] = ['deployments', 'statefulsets', 'daemonsets'];

export class Controllers {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /** Per deployment: when the rollout last made progress (for progressDeadlineSeconds). */
  private readonly progress = new Map<string, { signature: string; at: number }>();
  private readonly deadlineTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly cluster: FakeCluster) {
    cluster.store.on('change', (c) => this.onChange(c));
  }

  stop(): void {
    for (const t of this.pending.values()) clearTimeout(t);
    for (const t of this.deadlineTimers) clearTimeout(t);
    this.pending.clear();
  }

  private onChange(change: Change): void {
    if ((WORKLOADS as Resource[]).includes(change.resource)) {
      this.enqueue(change.resource as WorkloadResource, change.object.metadata.namespace!, change.object.metadata.name);
    } else if (change.resource === 'pods') {
      const owner = ownerOf(change.object);
      if (owner) this.enqueue(owner.resource, change.object.metadata.namespace!, owner.name);
    } else if (change.resource === 'nodes') {
      for (const ds of this.cluster.store.list('daemonsets')) this.enqueue('daemonsets', ds.metadata.namespace!, ds.metadata.name);
    }
  }

  private enqueue(resource: WorkloadResource, namespace: string, name: string): void {
    const key = `${resource}/${namespace}/${name}`;
    if (this.pending.has(key)) return;
    this.pending.set(
      key,
      setTimeout(() => {
        this.pending.delete(key);
        this.reconcile(resource, namespace, name);
      }, this.cluster.timing.controllerMs),
    );
  }

  private reconcile(resource: WorkloadResource, namespace: string, name: string): void {
    const workload = this.cluster.store.get(resource, namespace, name);
    const pods = this.ownedPods(resource, namespace, name);
    if (!workload) {
      // Garbage collection: pods of a deleted workload go too.
      for (const p of pods) this.cluster.deletePod(p);
      return;
    }
    if (resource === 'deployments') this.reconcileDeployment(workload, pods);
    else if (resource === 'statefulsets') this.reconcileStatefulSet(workload, pods);
    else this.reconcileDaemonSet(workload, pods);
  }

  private ownedPods(resource: WorkloadResource, namespace: string, name: string): KObj[] {
    return this.cluster.store
      .list('pods', namespace)
      .filter((p) => {
        const o = ownerOf(p);
        return o?.resource === resource && o.name === name;
      });
  }

  // ---------- Deployment ----------

  private reconcileDeployment(d: KObj, pods: KObj[]): void {
    const desired: number = d.spec.replicas ?? 1;
    const hash = templateHash(d.spec.template);
    const rsName = `${d.metadata.name}-${hash}`;
    const active = pods.filter((p) => !p.metadata.deletionTimestamp);
    const isNew = (p: KObj) => p.metadata.labels?.['pod-template-hash'] === hash;
    let newActive = active.filter(isNew);
    const oldActive = active.filter((p) => !isNew(p));
    const { maxSurge, maxUnavailable } = rollingParams(d, desired);
    const recreate = d.spec.strategy?.type === 'Recreate';

    // Scale the new ReplicaSet up.
    let creatable = recreate ? (pods.some((p) => !isNew(p)) ? 0 : desired - newActive.length) : Math.min(desired - newActive.length, desired + maxSurge - active.length);
    if (creatable > 0) this.cluster.recordEvent(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rsName} to ${newActive.length + creatable}`, 'deployment-controller');
    while (creatable-- > 0) {
      newActive.push(
        this.cluster.createPod(d, d.spec.template, {
          name: `${rsName}-${suffix()}`,
          labels: { 'pod-template-hash': hash },
          owner: { kind: 'ReplicaSet', name: rsName },
        }),
      );
    }
    // Surplus new pods (replicas lowered): drop the unready ones first.
    for (const extra of [...newActive].sort(byReadiness).slice(0, Math.max(0, newActive.length - desired))) this.cluster.deletePod(extra);
    newActive = newActive.slice(0, desired);

    // Scale old ReplicaSets down without dropping below desired - maxUnavailable ready pods.
    let readyCount = active.filter(isPodReady).length;
    const minAvailable = desired - maxUnavailable;
    let deletedOld = 0;
    for (const old of [...oldActive].sort(byReadiness)) {
      if (recreate || !isPodReady(old)) {
        this.cluster.deletePod(old);
        deletedOld++;
      } else if (readyCount - 1 >= minAvailable) {
        this.cluster.deletePod(old);
        readyCount--;
        deletedOld++;
      }
    }
    if (deletedOld > 0) this.cluster.recordEvent(d, 'Normal', 'ScalingReplicaSet', `Scaled down old replica sets by ${deletedOld}`, 'deployment-controller');

    const activeNow = this.ownedPods('deployments', d.metadata.namespace!, d.metadata.name).filter((p) => !p.metadata.deletionTimestamp);
    const available = activeNow.filter(isPodReady).length;
    const updated = activeNow.filter(isNew);
    const updatedReady = updated.filter(isPodReady).length;
    const complete = updated.length === desired && updatedReady === desired && activeNow.length === desired;
    const progressing = this.progressCondition(d, rsName, `${hash}/${updatedReady}/${activeNow.length}`, complete);
    this.writeStatus('deployments', d, {
      observedGeneration: d.metadata.generation,
      replicas: activeNow.length,
      updatedReplicas: updated.length,
      readyReplicas: available,
      availableReplicas: available,
      unavailableReplicas: Math.max(0, activeNow.length - available),
      conditions: [
        condition(d, 'Available', available >= minAvailable ? 'True' : 'False', available >= minAvailable ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', available >= minAvailable ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.'),
        progressing,
      ],
    });
  }

  private progressCondition(d: KObj, rsName: string, signature: string, complete: boolean) {
    const key = `${d.metadata.namespace}/${d.metadata.name}`;
    const prev = this.progress.get(key);
    if (!prev || prev.signature !== signature) this.progress.set(key, { signature, at: Date.now() });
    const since = this.progress.get(key)!.at;
    if (complete) return condition(d, 'Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`);
    const deadlineMs = (d.spec.progressDeadlineSeconds ?? 600) * 1000;
    if (Date.now() - since >= deadlineMs) {
      return condition(d, 'Progressing', 'False', 'ProgressDeadlineExceeded', `ReplicaSet "${rsName}" has timed out progressing.`);
    }
    // Look again when the deadline passes, as the real controller requeues.
    const timer = setTimeout(() => {
      this.deadlineTimers.delete(timer);
      this.enqueue('deployments', d.metadata.namespace!, d.metadata.name);
    }, deadlineMs - (Date.now() - since) + 5);
    this.deadlineTimers.add(timer);
    return condition(d, 'Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`);
  }

  // ---------- StatefulSet (RollingUpdate, OrderedReady) ----------

  private reconcileStatefulSet(s: KObj, pods: KObj[]): void {
    const desired: number = s.spec.replicas ?? 1;
    const updateRevision = `${s.metadata.name}-${templateHash(s.spec.template)}`;
    const byOrdinal = new Map<number, KObj>();
    for (const p of pods) byOrdinal.set(Number(p.metadata.name.slice(s.metadata.name.length + 1)), p);
    const healthy = (i: number) => {
      const p = byOrdinal.get(i);
      return !!p && !p.metadata.deletionTimestamp && isPodReady(p);
    };

    // Create the lowest missing ordinal once all lower ones are Running and Ready.
    for (let i = 0; i < desired; i++) {
      if (byOrdinal.has(i)) continue;
      if ([...Array(i).keys()].every(healthy)) {
        byOrdinal.set(i, this.cluster.createPod(s, s.spec.template, { name: `${s.metadata.name}-${i}`, labels: { 'controller-revision-hash': updateRevision, 'apps.kubernetes.io/pod-index': String(i) } }));
      }
      break;
    }
    for (const [i, p] of byOrdinal) if (i >= desired && !p.metadata.deletionTimestamp) this.cluster.deletePod(p);

    // Rolling update: replace the highest-ordinal outdated pod once every pod is healthy.
    const allHealthy = [...Array(desired).keys()].every(healthy);
    if (allHealthy && s.spec.updateStrategy?.type !== 'OnDelete') {
      const outdated = [...byOrdinal.entries()].filter(([i, p]) => i < desired && p.metadata.labels?.['controller-revision-hash'] !== updateRevision).sort((a, b) => b[0] - a[0]);
      if (outdated[0]) this.cluster.deletePod(outdated[0][1]);
    }

    const current = this.ownedPods('statefulsets', s.metadata.namespace!, s.metadata.name).filter((p) => !p.metadata.deletionTimestamp);
    const updated = current.filter((p) => p.metadata.labels?.['controller-revision-hash'] === updateRevision);
    const ready = current.filter(isPodReady).length;
    const done = updated.length === desired && current.length === desired;
    const currentRevision = done ? updateRevision : (s.status?.currentRevision ?? updateRevision);
    this.writeStatus('statefulsets', s, {
      observedGeneration: s.metadata.generation,
      replicas: current.length,
      readyReplicas: ready,
      availableReplicas: ready,
      currentReplicas: current.filter((p) => p.metadata.labels?.['controller-revision-hash'] === currentRevision).length,
      updatedReplicas: updated.length,
      currentRevision,
      updateRevision,
      collisionCount: 0,
    });
  }

  // ---------- DaemonSet (RollingUpdate, maxUnavailable 1) ----------

  private reconcileDaemonSet(ds: KObj, pods: KObj[]): void {
    const revision = `${templateHash(ds.spec.template)}`;
    const nodes = this.cluster.store.list('nodes').filter((n) => !n.spec?.unschedulable);
    const podsOn = (node: string) => pods.filter((p) => p.spec.nodeName === node);
    for (const n of nodes) {
      if (podsOn(n.metadata.name).length === 0) {
        this.cluster.createPod(ds, ds.spec.template, { name: `${ds.metadata.name}-${suffix()}`, labels: { 'controller-revision-hash': revision }, nodeName: n.metadata.name });
      }
    }
    const active = pods.filter((p) => !p.metadata.deletionTimestamp);
    const unavailable = nodes.filter((n) => !active.some((p) => p.spec.nodeName === n.metadata.name && isPodReady(p))).length;
    if (unavailable === 0) {
      const outdated = active.find((p) => p.metadata.labels?.['controller-revision-hash'] !== revision);
      if (outdated) this.cluster.deletePod(outdated);
    }
    const current = this.ownedPods('daemonsets', ds.metadata.namespace!, ds.metadata.name).filter((p) => !p.metadata.deletionTimestamp);
    const ready = current.filter(isPodReady).length;
    this.writeStatus('daemonsets', ds, {
      observedGeneration: ds.metadata.generation,
      desiredNumberScheduled: nodes.length,
      currentNumberScheduled: current.length,
      updatedNumberScheduled: current.filter((p) => p.metadata.labels?.['controller-revision-hash'] === revision).length,
      numberReady: ready,
      numberAvailable: ready,
      numberUnavailable: Math.max(0, nodes.length - ready),
      numberMisscheduled: 0,
    });
  }

  private writeStatus(resource: WorkloadResource, obj: KObj, status: Record<string, unknown>): void {
    const latest = this.cluster.store.get(resource, obj.metadata.namespace, obj.metadata.name);
    if (!latest) return;
    if (JSON.stringify(latest.status ?? {}) === JSON.stringify(status)) return;
    latest.status = status;
    this.cluster.store.update(resource, latest);
  }
}

/** Which workload owns a pod, from its controller ownerReference (Deployment pods via their ReplicaSet). */
export function ownerOf(pod: KObj): { resource: WorkloadResource; name: string } | undefined {
  const ref = pod.metadata.ownerReferences?.find((r) => r.controller);
  if (ref?.kind === 'ReplicaSet') return { resource: 'deployments', name: ref.name.replace(/-[^-]+$/, '') };
  if (ref?.kind === 'StatefulSet') return { resource: 'statefulsets', name: ref.name };
  if (ref?.kind === 'DaemonSet') return { resource: 'daemonsets', name: ref.name };
  return undefined;
}

export function isPodReady(p: KObj): boolean {
  return !!p.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
}

export function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
}

export function selects(workload: KObj, pod: KObj): boolean {
  const ml: Record<string, string> = workload.spec?.selector?.matchLabels ?? {};
  const selector = Object.entries(ml).map(([k, v]) => `${k}=${v}`).join(',');
  return parseLabelSelector(selector)(pod.metadata.labels ?? {});
}

function rollingParams(d: KObj, desired: number): { maxSurge: number; maxUnavailable: number } {
  const ru = d.spec.strategy?.rollingUpdate ?? {};
  const resolve = (v: unknown, roundUp: boolean) => {
    const s = String(v ?? '25%');
    if (!s.endsWith('%')) return Number(s);
    const x = (Number(s.slice(0, -1)) / 100) * desired;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  };
  let maxSurge = resolve(ru.maxSurge, true);
  const maxUnavailable = resolve(ru.maxUnavailable, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxSurge = 1;
  return { maxSurge, maxUnavailable };
}

const byReadiness = (a: KObj, b: KObj) => Number(isPodReady(a)) - Number(isPodReady(b));

function condition(obj: KObj, type: string, status: string, reason: string, message: string) {
  const prev = obj.status?.conditions?.find((c: { type: string }) => c.type === type);
  const unchanged = prev && prev.status === status;
  return {
    type,
    status,
    reason,
    message,
    lastUpdateTime: unchanged && prev.reason === reason ? prev.lastUpdateTime : new Date().toISOString(),
    lastTransitionTime: unchanged ? prev.lastTransitionTime : new Date().toISOString(),
  };
}

const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function suffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += ALPHABET[Math.floor(Math.random() * ALPHABET.length)];
  return s;
}
