import { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { FakeCluster, PodRuntime } from './cluster.js';
import type { KObj } from './store.js';

/**
 * Scheduler + kubelet stand-in: every pod a controller creates walks the real status path
 * (Pending → scheduled → ContainerCreating → Running → Ready) or into the failure the test chose,
 * writing the same container states, conditions and events a real node would.
 */

/** What a new pod's (failing) container does. `container` picks which one (default: the first). */
export type PodScenario = { container?: string } & (
  | { kind: 'ready'; logs?: string[] }
  | { kind: 'image-pull'; message?: string }
  | { kind: 'crash-loop'; exitCode?: number; logs?: string[] }
  | { kind: 'oom'; logs?: string[] }
  | { kind: 'probe-fail'; logs?: string[]; message?: string }
  | { kind: 'unschedulable'; message?: string }
  | { kind: 'config-error'; message?: string }
  | { kind: 'exec-format'; binary?: string }
);

export interface Timing {
  /** Controller reaction time after a change. */
  controllerMs: number;
  scheduleMs: number;
  /** From scheduled to containers started (or failing to). */
  startMs: number;
  /** From started to passing the readiness probe. */
  readyMs: number;
  /** From started to a crash. */
  crashMs: number;
  /** From a first failure to the BackOff state. */
  backoffMs: number;
  probePeriodMs: number;
  /** Graceful termination time of a deleted pod. */
  terminateMs: number;
  /**
   * Readiness as a real kubelet decides it: a container without a readinessProbe is Ready once
   * started (+ readyMs); one with a probe becomes Ready at the first probe after it listens
   * (started + readyMs), and the kubelet's probe worker ticks every `periodSeconds` from the moment
   * it took the pod (admission), after `initialDelaySeconds`. Off: Ready readyMs after start.
   */
  probeGrid?: boolean;
}

interface ContainerLog {
  current: string[];
  previous?: string[];
}

interface PodState {
  pod?: KObj;
  /** When the kubelet took the pod: its probe workers tick from here. */
  admittedAt: number;
  timers: Set<NodeJS.Timeout>;
  logs: Map<string, ContainerLog>;
  backends: Map<number, http.Server>;
}

export class FakeKubelet extends EventEmitter<{ log: [string, string, string]; 'log-end': [string, string] }> {
  private readonly pods = new Map<string, PodState>();

  constructor(private readonly cluster: FakeCluster) {
    super();
  }

  /** Start a freshly created pod's life. */
  admit(pod: KObj): void {
    const scenario = this.cluster.scenarioFor(pod);
    const rt: PodState = { pod, admittedAt: performance.now(), timers: new Set(), logs: new Map(), backends: new Map() };
    for (const c of containers(pod)) rt.logs.set(c.name, { current: [] });
    this.pods.set(pod.metadata.uid, rt);
    const failing = scenario.container ?? containers(pod)[0]?.name;
    this.after(pod, this.cluster.timing.scheduleMs, () => this.schedule(pod, scenario, failing));
  }

  private schedule(pod: KObj, scenario: PodScenario, failing: string | undefined): void {
    if (scenario.kind === 'unschedulable') {
      const message = scenario.message ?? '0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.';
      this.patchStatus(pod, (p) => {
        p.status.conditions = [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastTransitionTime: now() }];
      });
      this.cluster.recordEvent(pod, 'Warning', 'FailedScheduling', message, 'default-scheduler');
      return;
    }
    const nodeName = pod.spec.nodeName ?? this.cluster.store.list('nodes')[0]?.metadata.name ?? 'node-1';
    this.patch(pod, (p) => {
      p.spec.nodeName = nodeName;
      p.status.conditions = [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now() },
        { type: 'Initialized', status: 'True', lastTransitionTime: now() },
        { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', lastTransitionTime: now() },
        { type: 'Ready', status: 'False', reason: 'ContainersNotReady', lastTransitionTime: now() },
      ];
      p.status.hostIP = '172.18.0.2';
      p.status.containerStatuses = containers(p).map((c) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        ready: false,
        started: false,
        restartCount: 0,
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState: {},
      }));
    });
    this.cluster.recordEvent(pod, 'Normal', 'Scheduled', `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${nodeName}`, 'default-scheduler');
    this.after(pod, this.cluster.timing.startMs, () => this.start(pod, scenario, failing));
  }

  private start(pod: KObj, scenario: PodScenario, failing: string | undefined): void {
    for (const c of containers(pod)) {
      const fails = c.name === failing;
      if (fails && scenario.kind === 'image-pull') this.failPull(pod, c, scenario.message);
      else if (fails && scenario.kind === 'config-error') this.failConfig(pod, c, scenario.message ?? 'secret "db-credentials" not found');
      else this.run(pod, c, fails ? scenario : { kind: 'ready' });
    }
  }

  private failPull(pod: KObj, c: Container, message?: string): void {
    const reason = message ?? `rpc error: code = NotFound desc = failed to pull and unpack image "${c.image}": failed to resolve reference "${c.image}": ${c.image}: not found`;
    this.setContainer(pod, c.name, { state: { waiting: { reason: 'ErrImagePull', message: reason } } });
    this.cluster.recordEvent(pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`, 'kubelet', c.name);
    this.cluster.recordEvent(pod, 'Warning', 'Failed', `Failed to pull image "${c.image}": ${reason}`, 'kubelet', c.name);
    this.cluster.recordEvent(pod, 'Warning', 'Failed', 'Error: ErrImagePull', 'kubelet', c.name);
    this.after(pod, this.cluster.timing.backoffMs, () => {
      this.setContainer(pod, c.name, { state: { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` } } });
      this.cluster.recordEvent(pod, 'Normal', 'BackOff', `Back-off pulling image "${c.image}"`, 'kubelet', c.name);
      this.cluster.recordEvent(pod, 'Warning', 'Failed', 'Error: ImagePullBackOff', 'kubelet', c.name);
    });
  }

  private failConfig(pod: KObj, c: Container, message: string): void {
    this.setContainer(pod, c.name, { state: { waiting: { reason: 'CreateContainerConfigError', message } } });
    this.cluster.recordEvent(pod, 'Warning', 'Failed', `Error: ${message}`, 'kubelet', c.name);
  }

  private run(pod: KObj, c: Container, scenario: PodScenario): void {
    const startedAt = now();
    this.cluster.recordEvent(pod, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`, 'kubelet', c.name);
    this.cluster.recordEvent(pod, 'Normal', 'Created', `Created container ${c.name}`, 'kubelet', c.name);
    this.cluster.recordEvent(pod, 'Normal', 'Started', `Started container ${c.name}`, 'kubelet', c.name);
    this.setContainer(pod, c.name, { started: true, state: { running: { startedAt } } }, (p) => {
      p.status.phase = 'Running';
      p.status.podIP = p.status.podIP ?? `10.244.0.${(Number.parseInt(p.metadata.uid.slice(0, 2), 16) % 250) + 2}`;
      p.status.startTime = p.status.startTime ?? startedAt;
    });
    const port = c.ports?.[0]?.containerPort ?? 8080;
    const t = this.cluster.timing;
    switch (scenario.kind) {
      case 'ready':
        this.emitLogs(pod, c.name, scenario.logs ?? [`${c.name} starting`, `listening on :${port}`]);
        if (this.cluster.runtime) this.runContainer(pod, c, this.cluster.runtime);
        else this.after(pod, this.untilReady(pod, c), () => this.setContainer(pod, c.name, { ready: true }));
        break;
      case 'probe-fail': {
        this.emitLogs(pod, c.name, scenario.logs ?? [`${c.name} starting`, 'waiting for database…']);
        const message = scenario.message ?? 'Readiness probe failed: HTTP probe failed with statuscode: 503';
        const probe = () => {
          this.cluster.recordEvent(pod, 'Warning', 'Unhealthy', message, 'kubelet', c.name);
          this.after(pod, t.probePeriodMs, probe);
        };
        this.after(pod, t.readyMs, probe);
        break;
      }
      case 'crash-loop':
        this.crash(pod, c, scenario.logs ?? ['panic: config file /etc/app/config.yaml not found'], scenario.exitCode ?? 1, 'Error');
        break;
      case 'oom':
        this.crash(pod, c, scenario.logs ?? ['allocating cache…'], 137, 'OOMKilled');
        break;
      case 'exec-format':
        this.crash(pod, c, [`exec ${scenario.binary ?? '/app/server'}: exec format error`], 255, 'Error');
        break;
      default:
        break;
    }
  }

  /** The container runs for real: Ready once it listens; a container that cannot run is reported as the kubelet would. */
  private runContainer(pod: KObj, c: Container, runtime: PodRuntime): void {
    runtime.start(pod, c).then(
      () => this.after(pod, this.untilReady(pod, c), () => this.setContainer(pod, c.name, { ready: true })),
      (error: Error) => {
        if (!this.pods.has(pod.metadata.uid)) return;
        this.setContainer(pod, c.name, { state: { waiting: { reason: 'RunContainerError', message: error.message } } });
        this.cluster.recordEvent(pod, 'Warning', 'Failed', `Error: ${error.message}`, 'kubelet', c.name);
      },
    );
  }

  /** ms from now until the container passes its readiness check (see Timing.probeGrid). */
  private untilReady(pod: KObj, c: Container): number {
    const t = this.cluster.timing;
    const probe = c.readinessProbe;
    const admittedAt = this.pods.get(pod.metadata.uid)?.admittedAt;
    if (!t.probeGrid || !probe || admittedAt === undefined) return t.readyMs;
    const period = (probe.periodSeconds ?? 10) * 1000;
    const first = admittedAt + (probe.initialDelaySeconds ?? 0) * 1000;
    const listening = performance.now() + t.readyMs;
    const tick = first + Math.max(0, Math.ceil((listening - first) / period)) * period;
    return Math.max(0, tick - performance.now());
  }

  /** Print logs, die, then sit in CrashLoopBackOff (the kubelet's back-off keeps it there). */
  private crash(pod: KObj, c: Container, lines: string[], exitCode: number, reason: string): void {
    this.emitLogs(pod, c.name, lines);
    this.after(pod, this.cluster.timing.crashMs, () => {
      const rt = this.pods.get(pod.metadata.uid);
      const log = rt?.logs.get(c.name);
      if (log) {
        log.previous = log.current;
        log.current = [];
      }
      this.emit('log-end', pod.metadata.uid, c.name);
      const terminated = { exitCode, reason, startedAt: now(), finishedAt: now(), containerID: `containerd://${pod.metadata.uid.slice(0, 12)}` };
      this.setContainer(pod, c.name, (cs) => ({
        ready: false,
        started: false,
        restartCount: (cs.restartCount ?? 0) + 1,
        lastState: { terminated },
        state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off 10s restarting failed container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})` } },
      }));
      this.cluster.recordEvent(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`, 'kubelet', c.name);
    });
  }

  /** Append log lines to a running container (tests call this too, to drive log streaming). */
  emitLogs(pod: KObj, container: string, lines: string[]): void {
    const log = this.pods.get(pod.metadata.uid)?.logs.get(container);
    if (!log) return;
    for (const line of lines) {
      log.current.push(line);
      this.emit('log', pod.metadata.uid, container, line);
    }
  }

  logs(podUid: string, container: string): ContainerLog | undefined {
    return this.pods.get(podUid)?.logs.get(container);
  }

  /** The pod is gone: stop its timers, end log streams, close its ports. */
  forget(podUid: string): void {
    const rt = this.pods.get(podUid);
    if (!rt) return;
    for (const t of rt.timers) clearTimeout(t);
    if (rt.pod) this.cluster.runtime?.stop(rt.pod);
    for (const name of rt.logs.keys()) this.emit('log-end', podUid, name);
    for (const s of rt.backends.values()) {
      s.close();
      s.closeAllConnections();
    }
    this.pods.delete(podUid);
  }

  forgetAll(): void {
    for (const uid of [...this.pods.keys()]) this.forget(uid);
  }

  /**
   * A TCP connection into the pod's network namespace on `port` (what the kubelet's port-forward
   * does). Each pod serves HTTP answering "hello from <pod>" unless the test installs a handler.
   */
  async connect(pod: KObj, port: number): Promise<net.Socket> {
    const rt = this.pods.get(pod.metadata.uid);
    if (!rt || pod.status?.phase !== 'Running') throw new Error(`pod ${pod.metadata.name} is not running`);
    const declared = containers(pod).some((c) => c.ports?.some((p) => p.containerPort === port));
    if (!declared) throw new Error(`dial tcp4 127.0.0.1:${port}: connect: connection refused`);
    const real = this.cluster.runtime?.connect(pod, port);
    if (real) return real;
    let server = rt.backends.get(port);
    if (!server) {
      const handler = this.cluster.podHttpHandler?.(pod, port) ?? ((_req: http.IncomingMessage, res: http.ServerResponse) => res.end(`hello from ${pod.metadata.name}\n`));
      server = http.createServer(handler);
      rt.backends.set(port, server);
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    }
    const { port: backendPort } = server.address() as net.AddressInfo;
    return net.connect(backendPort, '127.0.0.1');
  }

  private after(pod: KObj, ms: number, fn: () => void): void {
    const rt = this.pods.get(pod.metadata.uid);
    if (!rt) return;
    const timer = setTimeout(() => {
      rt.timers.delete(timer);
      const current = this.cluster.store.get('pods', pod.metadata.namespace, pod.metadata.name);
      // A pod deleted (or replaced by one with the same name) meanwhile is not ours any more.
      if (current && current.metadata.uid === pod.metadata.uid && !current.metadata.deletionTimestamp) fn();
    }, ms);
    rt.timers.add(timer);
  }

  private patch(pod: KObj, mutate: (p: KObj) => void): void {
    const current = this.cluster.store.get('pods', pod.metadata.namespace, pod.metadata.name);
    if (!current || current.metadata.uid !== pod.metadata.uid) return;
    current.status ??= {};
    mutate(current);
    this.cluster.store.update('pods', current);
  }

  private patchStatus(pod: KObj, mutate: (p: KObj) => void): void {
    this.patch(pod, mutate);
  }

  /** Update one container's status and recompute the pod's Ready conditions from all of them. */
  private setContainer(
    pod: KObj,
    name: string,
    change: Record<string, unknown> | ((cs: ContainerStatus) => Record<string, unknown>),
    alsoPod?: (p: KObj) => void,
  ): void {
    this.patch(pod, (p) => {
      const statuses: ContainerStatus[] = p.status.containerStatuses ?? [];
      const i = statuses.findIndex((s) => s.name === name);
      if (i < 0) return;
      const cs = statuses[i]!;
      statuses[i] = { ...cs, ...(typeof change === 'function' ? change(cs) : change) };
      const allReady = statuses.every((s) => s.ready);
      for (const cond of p.status.conditions ?? []) {
        if (cond.type === 'Ready' || cond.type === 'ContainersReady') {
          const status = allReady ? 'True' : 'False';
          if (cond.status !== status) cond.lastTransitionTime = now();
          cond.status = status;
          cond.reason = allReady ? undefined : 'ContainersNotReady';
          cond.message = allReady ? undefined : `containers with unready status: [${statuses.filter((s) => !s.ready).map((s) => s.name).join(' ')}]`;
        }
      }
      alsoPod?.(p);
    });
  }
}

interface Container {
  name: string;
  image: string;
  ports?: { containerPort: number }[];
  readinessProbe?: { periodSeconds?: number; initialDelaySeconds?: number };
}
interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount?: number;
  [k: string]: unknown;
}

export const containers = (pod: KObj): Container[] => pod.spec?.containers ?? [];
const now = () => new Date().toISOString();
