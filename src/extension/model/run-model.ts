import type { ClusterTarget } from '../../engine/kube/target.js';
import type { Diagnostic, EngineEvent, PodSummary, RunSummary, StageName, TimingRecord } from '../../engine/types.js';
import { LogBuffer } from './log-buffer.js';

/**
 * What the config declares about a service or task, fixed until the config reloads. The other
 * service types: ServiceEntry (below: this plus what runs), the engine's ServiceStatus (its own
 * snapshot, for headless callers) and the panel's ServiceView (the message the webview receives).
 */
export interface ServiceDescriptor {
  name: string;
  kind: 'service' | 'task';
  manual: boolean;
  /** deploy.workload (e.g. deployment/hello), for services that deploy. */
  workload?: string;
  /** deploy.portForwards: 127.0.0.1:local → the workload's remote port. */
  portForwards?: { local: number; remote: number }[];
}

/** The model's picture of one service or task: what the config declares and what its runs did. */
export interface ServiceEntry extends ServiceDescriptor {
  /** The workload's pods as of its last ready stage (undefined: not known yet). */
  pods?: PodSummary[];
  queued: boolean;
  /** What the queued run is for (its trigger: save, watch, dependency…). */
  queuedFor?: string;
  live?: {
    runId: string;
    startedAt: number;
    trigger: string;
    stage?: StageName;
    stageStartedAt?: number;
    records: TimingRecord[];
  };
  last?: RunSummary;
  pending: string[];
  /** Why its queued run waits, or why a manual one did not run (the engine's hold reason). */
  waiting?: string;
  /** Finished runs with at least one stage, oldest first, capped at the history limit. */
  history: RunSummary[];
  diagnostics: Diagnostic[];
}

export interface ModelChange {
  services: Set<string>;
  /** Services whose history (and thus p50/p95/sparkline) changed. */
  history: Set<string>;
  diagnostics: Set<string>;
  /** The cluster target (context, namespace) changed. */
  cluster?: boolean;
}

/**
 * The extension's picture of the engine, built only from its events (plus the history file at
 * start). The status bar, the panel and the quick picks read this; nothing here knows VS Code.
 */
export class RunModel {
  private readonly entries = new Map<string, ServiceEntry>();
  readonly logs = new LogBuffer();
  private listeners = new Set<(change: ModelChange) => void>();
  private clusterValue?: ClusterTarget;
  private generationValue = 0;

  constructor(private historyLimit = 50) {}

  setHistoryLimit(limit: number): void {
    this.historyLimit = limit;
    for (const entry of this.entries.values()) entry.history = entry.history.slice(-limit);
  }

  /** A new engine (config loaded or reloaded): start over with its services and their history. */
  reset(services: ServiceDescriptor[], history: Map<string, RunSummary[]> = new Map()): void {
    this.generationValue++;
    this.entries.clear();
    this.logs.clear();
    for (const s of services) {
      const runs = (history.get(s.name) ?? []).filter((r) => r.records.length > 0).slice(-this.historyLimit);
      this.entries.set(s.name, { ...s, queued: false, pending: [], history: runs, last: runs.at(-1), diagnostics: [] });
    }
    this.notify({ services: new Set(this.entries.keys()), history: new Set(this.entries.keys()), diagnostics: new Set(this.entries.keys()) });
  }

  /** Forget everything (no config, untrusted, config error). */
  clear(): void {
    const names = new Set(this.entries.keys());
    this.generationValue++;
    this.entries.clear();
    this.logs.clear();
    this.clusterValue = undefined;
    this.notify({ services: names, history: names, diagnostics: names, cluster: true });
  }

  /** Changes whenever the set of services and tasks is replaced (reset, clear): views re-list then. */
  get generation(): number {
    return this.generationValue;
  }

  /** Where deploys go (read from the kubeconfig when the config loads); undefined: not known. */
  get cluster(): ClusterTarget | undefined {
    return this.clusterValue;
  }

  setCluster(target: ClusterTarget | undefined): void {
    this.clusterValue = target;
    this.notify({ services: new Set(), history: new Set(), diagnostics: new Set(), cluster: true });
  }

  /** Subscribers right now (leak checks). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  onChange(listener: (change: ModelChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(name: string): ServiceEntry | undefined {
    return this.entries.get(name);
  }

  all(): ServiceEntry[] {
    return [...this.entries.values()];
  }

  services(): ServiceEntry[] {
    return this.all().filter((e) => e.kind === 'service');
  }

  tasks(): ServiceEntry[] {
    return this.all().filter((e) => e.kind === 'task');
  }

  running(): ServiceEntry[] {
    return this.all().filter((e) => e.live);
  }

  /** Looks a finished run up by id: the last run, or one in the history. */
  findRun(service: string, runId: string): RunSummary | undefined {
    const entry = this.entries.get(service);
    if (!entry) return undefined;
    if (entry.last?.runId === runId) return entry.last;
    return entry.history.find((r) => r.runId === runId);
  }

  apply(event: EngineEvent): void {
    const change: ModelChange = { services: new Set(), history: new Set(), diagnostics: new Set() };
    switch (event.type) {
      case 'run-queued': {
        const entry = this.entries.get(event.service);
        if (!entry) return;
        entry.queued = true;
        entry.queuedFor = event.trigger.reason;
        change.services.add(entry.name);
        break;
      }
      case 'run-started': {
        const entry = this.entries.get(event.service);
        if (!entry) return;
        entry.live = { runId: event.runId, startedAt: event.startedAt, trigger: event.trigger.reason, records: [] };
        entry.queued = false;
        entry.queuedFor = undefined;
        entry.pending = [];
        entry.waiting = undefined;
        this.logs.startRun(entry.name, event.runId);
        change.services.add(entry.name);
        break;
      }
      case 'stage-started': {
        const entry = this.entries.get(event.service);
        if (!entry?.live || entry.live.runId !== event.runId) return;
        entry.live.stage = event.stage;
        entry.live.stageStartedAt = event.startedAt;
        change.services.add(entry.name);
        break;
      }
      case 'stage-finished': {
        const entry = this.entries.get(event.record.service);
        if (!entry?.live || entry.live.runId !== event.record.runId) return;
        entry.live.records.push(event.record);
        if (event.record.stage === 'trigger' && event.record.detail) entry.live.trigger = event.record.detail;
        change.services.add(entry.name);
        break;
      }
      case 'run-finished': {
        const summary = event.summary;
        const entry = this.entries.get(summary.service);
        if (!entry) return;
        if (entry.live?.runId === summary.runId) entry.live = undefined;
        // A run that ended without starting (cancelled while queued, dependency failed) empties the queue.
        else if (!entry.live) {
          entry.queued = false;
          entry.queuedFor = undefined;
          entry.waiting = undefined;
        }
        entry.last = summary;
        if (summary.records.length > 0) {
          entry.history.push(summary);
          if (entry.history.length > this.historyLimit) entry.history.splice(0, entry.history.length - this.historyLimit);
          change.history.add(entry.name);
        }
        // The next successful compile clears compiler problems.
        if (summary.status === 'ok' && entry.diagnostics.length > 0) {
          entry.diagnostics = [];
          change.diagnostics.add(entry.name);
        }
        change.services.add(entry.name);
        break;
      }
      case 'diagnostics': {
        const entry = this.entries.get(event.service);
        if (!entry) return;
        entry.diagnostics = event.diagnostics;
        change.diagnostics.add(entry.name);
        change.services.add(entry.name);
        break;
      }
      case 'run-waiting': {
        const entry = this.entries.get(event.service);
        if (!entry) return;
        entry.waiting = event.reason.message;
        change.services.add(entry.name);
        break;
      }
      case 'changes-pending': {
        const entry = this.entries.get(event.service);
        if (!entry) return;
        entry.pending = event.changedFiles;
        change.services.add(entry.name);
        break;
      }
      case 'pods': {
        const entry = this.entries.get(event.service);
        if (!entry) return;
        entry.pods = event.pods;
        change.services.add(entry.name);
        break;
      }
      case 'trigger-changed': {
        const entry = this.entries.get(event.service);
        if (!entry) return;
        entry.manual = event.trigger === 'manual';
        change.services.add(entry.name);
        break;
      }
      case 'log':
        this.logs.add(event.line);
        return;
      default:
        return;
    }
    this.notify(change);
  }

  private notify(change: ModelChange): void {
    for (const listener of this.listeners) listener(change);
  }
}
