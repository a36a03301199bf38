import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type net from 'node:net';
import { Controllers } from './controllers.js';
import { JobController } from './jobs.js';
import { FakeKubelet, type PodScenario, type Timing } from './kubelet.js';
import { type KObj, type Resource, Store } from './store.js';

/** A workload's spec.template: a pod without identity; Kubernetes makes its metadata optional. */
type PodTemplate = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown> };

/**
 * The simulated cluster behind the fake API server: the store, the controllers, the kubelet, and
 * the knobs tests turn (timings, what new pods do, nodes, ConfigMaps).
 */

export const FAST_TIMING: Timing = {
  controllerMs: 5,
  scheduleMs: 10,
  startMs: 20,
  readyMs: 30,
  crashMs: 30,
  backoffMs: 20,
  probePeriodMs: 25,
  // A real kubelet confirms a stopped container seconds after the delete (measured 2–4 s on a
  // real cluster, see /work/shared/notes/real-components.md); until then the pod stays listed
  // with its deletionTimestamp while the controller already counts it out.
  terminateMs: 1500,
};

/**
 * A real single-node cluster's pace (Kubernetes 1.32 + containerd, measured: see
 * /work/shared/notes/real-components.md): pod sandbox + CNI + container start take a few hundred ms,
 * readiness is decided by probes on the kubelet's grid (a 1 s probe period makes a rollout of a
 * tiny static server ≈1.0 or ≈2.0 s), and a deleted pod stays listed 2–4 s until the kubelet
 * confirms. For measuring (the bench), not for the test suite.
 */
export const REAL_TIMING: Timing = {
  controllerMs: 10,
  scheduleMs: 15,
  startMs: 400,
  readyMs: 5,
  crashMs: 100,
  backoffMs: 1000,
  probePeriodMs: 1000,
  terminateMs: 3000,
  probeGrid: true,
};

/**
 * Runs pods' containers for real (the kubelet's container runtime); without one, pods are only
 * status. `start` settles once the container runs and listens (or fails to); `connect` dials a
 * port inside the pod for port-forward.
 */
export interface PodRuntime {
  start(pod: KObj, container: { name: string; image: string; ports?: { containerPort: number }[] }): Promise<void>;
  stop(pod: KObj): void;
  connect(pod: KObj, port: number): net.Socket | undefined;
}

export interface FakeNode {
  name: string;
  arch?: string;
  /** e.g. containerd://1.7.15 or docker://27.0.3 */
  runtime?: string;
  kubeletVersion?: string;
  labels?: Record<string, string>;
  providerID?: string;
}

export class FakeCluster {
  readonly store = new Store();
  readonly kubelet = new FakeKubelet(this);
  readonly controllers = new Controllers(this);
  readonly jobs = new JobController(this);
  timing: Timing = { ...FAST_TIMING };
  /** What new pods do; per-image rules win over the default. */
  defaultScenario: PodScenario = { kind: 'ready' };
  readonly imageScenarios = new Map<string, PodScenario>();
  /** Runs the pods' containers for real; unset: pods are status only. */
  runtime?: PodRuntime;
  /** Serve a pod's port with a custom HTTP handler (port-forward tests). */
  podHttpHandler?: (pod: KObj, port: number) => http.RequestListener | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(nodes: FakeNode[] = [{ name: 'node-1' }]) {
    this.store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' }, status: { phase: 'Active' } });
    for (const n of nodes) this.addNode(n);
    this.store.on('change', (c) => {
      if (c.resource === 'pods' && c.type === 'DELETED') this.kubelet.forget(c.object.metadata.uid);
    });
  }

  scenarioFor(pod: KObj): PodScenario {
    for (const c of pod.spec?.containers ?? []) {
      const s = this.imageScenarios.get(c.image);
      if (s) return { container: c.name, ...s };
    }
    return this.defaultScenario;
  }

  addNode(n: FakeNode): KObj {
    const arch = n.arch ?? 'amd64';
    return this.store.create('nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: n.name,
        labels: { 'kubernetes.io/arch': arch, 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': n.name, ...n.labels },
      },
      spec: n.providerID ? { providerID: n.providerID } : {},
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
        nodeInfo: {
          architecture: arch,
          operatingSystem: 'linux',
          containerRuntimeVersion: n.runtime ?? 'containerd://1.7.15',
          kubeletVersion: n.kubeletVersion ?? 'v1.31.0',
        },
      },
    });
  }

  addConfigMap(namespace: string, name: string, data: Record<string, string>): KObj {
    return this.store.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data });
  }

  /** A pod from a workload's template (its metadata is optional, as in Kubernetes), owned by it, handed to the kubelet. */
  createPod(owner: KObj, template: PodTemplate, opts: { name: string; labels: Record<string, string>; owner?: { kind: string; name: string }; nodeName?: string }): KObj {
    const ownerRef = opts.owner ?? { kind: owner.kind, name: owner.metadata.name };
    const pod = this.store.create('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: opts.name,
        namespace: owner.metadata.namespace,
        labels: { ...template.metadata?.labels, ...opts.labels },
        annotations: { ...template.metadata?.annotations },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: ownerRef.kind, name: ownerRef.name, uid: owner.metadata.uid, controller: true }],
      },
      spec: { ...structuredClone(template.spec), ...(opts.nodeName ? { nodeName: opts.nodeName } : {}), restartPolicy: 'Always' },
      status: { phase: 'Pending', qosClass: 'BestEffort' },
    });
    this.kubelet.admit(pod);
    return pod;
  }

  /**
   * Graceful delete as a real API server does it: deletionTimestamp set to now + the grace period
   * (the pod's terminationGracePeriodSeconds, default 30 s), the pod still listed until the
   * kubelet confirms the stop (`gracePeriodMs`, the timing's terminateMs); 0 = at once.
   */
  deletePod(pod: KObj, gracePeriodMs = this.timing.terminateMs): KObj | undefined {
    const current = this.store.get('pods', pod.metadata.namespace, pod.metadata.name);
    if (!current || current.metadata.uid !== pod.metadata.uid) return undefined;
    if (gracePeriodMs <= 0) return this.store.remove('pods', current.metadata.namespace, current.metadata.name);
    if (current.metadata.deletionTimestamp) return current;
    const graceSeconds: number = current.spec?.terminationGracePeriodSeconds ?? 30;
    current.metadata.deletionTimestamp = new Date(Date.now() + graceSeconds * 1000).toISOString();
    current.metadata.deletionGracePeriodSeconds = graceSeconds;
    const updated = this.store.update('pods', current);
    for (const c of current.spec.containers ?? []) this.recordEvent(current, 'Normal', 'Killing', `Stopping container ${c.name}`, 'kubelet', c.name);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const latest = this.store.get('pods', pod.metadata.namespace, pod.metadata.name);
      if (latest?.metadata.uid === pod.metadata.uid) this.store.remove('pods', latest.metadata.namespace, latest.metadata.name);
    }, gracePeriodMs);
    this.timers.add(timer);
    return updated;
  }

  /** Record an Event, folding repeats into `count` like the real event recorder. */
  recordEvent(obj: KObj, type: 'Normal' | 'Warning', reason: string, message: string, component: string, container?: string): void {
    const ns = obj.metadata.namespace ?? 'default';
    const existing = this.store
      .list('events', ns)
      .find((e) => e.involvedObject.uid === obj.metadata.uid && e.reason === reason && e.message === message);
    const time = new Date().toISOString();
    if (existing) {
      existing.count += 1;
      existing.lastTimestamp = time;
      this.store.update('events', existing);
      return;
    }
    this.store.create('events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: ns,
        uid: obj.metadata.uid,
        ...(container ? { fieldPath: `spec.containers{${container}}` } : {}),
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: time,
      lastTimestamp: time,
      source: { component, ...(component === 'kubelet' ? { host: obj.spec?.nodeName } : {}) },
      reportingComponent: component,
    });
  }

  pods(namespace = 'default'): KObj[] {
    return this.store.list('pods', namespace);
  }

  /** Pods not being deleted (what a rollout counts; terminating ones stay listed for a while). */
  activePods(namespace = 'default'): KObj[] {
    return this.pods(namespace).filter((p) => !p.metadata.deletionTimestamp);
  }

  get(resource: Resource, namespace: string | undefined, name: string): KObj | undefined {
    return this.store.get(resource, namespace, name);
  }

  stop(): void {
    this.controllers.stop();
    this.kubelet.forgetAll();
    for (const t of this.timers) clearTimeout(t);
  }
}
