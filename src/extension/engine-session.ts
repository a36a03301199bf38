import { readFile } from 'node:fs/promises';
import { ConfigError, Engine, loadConfig, type ConfigIssue, type EngineEvent, type ResolvedConfig, type RunSummary, type StageSetFactory } from '../engine/index.js';
import type { ClusterTarget } from '../engine/kube/target.js';
import type { RunModel, ServiceDescriptor } from './model/run-model.js';
import type { Phase } from './model/status-model.js';

export interface SessionDeps {
  model: RunModel;
  /** Docker/Kubernetes stages; loaded lazily by the factory itself. */
  stages?: StageSetFactory;
  onEvent(event: EngineEvent): void;
  onPhase(phase: Phase): void;
  /** Problems found while loading (or none: clear them). */
  onConfigIssues(file: string, issues: ConfigIssue[]): void;
  log(message: string, level?: 'info' | 'warn' | 'error'): void;
}

/**
 * Read lazily: the kubeconfig reader brings @kubernetes/client-node, which activation must not
 * load. Through the Kubernetes integration's entry, which the bundle keeps in its own file.
 */
async function readClusterTarget(config: ResolvedConfig): Promise<ClusterTarget> {
  const { clusterTarget } = await import('../engine/kube/index.js');
  return clusterTarget(config);
}

export interface LoadOptions {
  watch: boolean;
  quietWindowMs?: number;
  historyLength: number;
}

/**
 * Owns the one Engine for the workspace's tightloop.yaml: loads it, replaces it when the config
 * changes, disposes it. Loads are serialised, so a burst of config saves ends with the engine of
 * the last one. No VS Code here: the composition root wires the callbacks.
 */
export class EngineSession {
  private current?: { engine: Engine; file: string; text: string; unsubscribe: () => void };
  private queue: Promise<void> = Promise.resolve();
  private phaseValue: Phase = { kind: 'no-config' };
  private disposed = false;

  constructor(private readonly deps: SessionDeps) {}

  get engine(): Engine | undefined {
    return this.current?.engine;
  }

  get configFile(): string | undefined {
    return this.current?.file ?? this.lastFile;
  }

  private lastFile?: string;

  get phase(): Phase {
    return this.phaseValue;
  }

  /** Loads `file` (or reloads it when its text changed, or always with `force`). Resolves when done. */
  load(file: string, options: LoadOptions, force = false): Promise<void> {
    return this.enqueue(() => this.doLoad(file, options, force));
  }

  /** Stops the engine and shows `phase` (no config, untrusted). */
  unload(phase: Phase): Promise<void> {
    return this.enqueue(async () => {
      await this.stopCurrent();
      this.lastFile = undefined;
      this.deps.model.clear();
      this.setPhase(phase);
    });
  }

  async setWatching(on: boolean): Promise<void> {
    return this.enqueue(async () => {
      const engine = this.current?.engine;
      if (!engine) return;
      if (on) await engine.startWatching();
      else await engine.stopWatching();
    });
  }

  /** Resolves once every queued load/unload has finished. */
  settled(): Promise<void> {
    return this.queue;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.queue.catch(() => {});
    await this.stopCurrent();
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.queue.then(work, work);
    this.queue = next.catch((error: Error) => this.deps.log(`engine: ${error.message}`, 'error'));
    return next;
  }

  private async doLoad(file: string, options: LoadOptions, force: boolean): Promise<void> {
    if (this.disposed) return;
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (!force && this.current && this.current.file === file && text !== undefined && this.current.text === text) return;
    this.lastFile = file;
    this.setPhase({ kind: 'loading' });
    await this.stopCurrent();

    let config;
    try {
      config = await loadConfig(file);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.deps.model.clear();
      this.deps.onConfigIssues(file, error.issues);
      this.deps.log(`${file} has ${error.issues.length} problem(s); nothing runs until they are fixed`, 'warn');
      this.setPhase({ kind: 'config-error', file, count: error.issues.length });
      return;
    }
    this.deps.onConfigIssues(file, []);
    if (options.quietWindowMs !== undefined) config.settings.quietWindowMs = options.quietWindowMs;

    let engine: Engine;
    try {
      engine = await Engine.start(config, { stages: this.deps.stages });
    } catch (error) {
      // Without Docker/Kubernetes stages the loop still compiles and stages; those stages say why they skip.
      this.deps.log(`Docker/Kubernetes integration not loaded: ${(error as Error).message}`, 'error');
      engine = Engine.fromConfig(config);
    }
    const unsubscribe = engine.on((event) => this.deps.onEvent(event));
    this.current = { engine, file, text: text ?? '', unsubscribe };

    const descriptors: ServiceDescriptor[] = [
      ...Object.values(config.services).map((s) => ({
        name: s.name,
        kind: 'service' as const,
        manual: s.trigger === 'manual',
        ...(s.deploy && { workload: s.deploy.workload, portForwards: s.deploy.portForwards }),
      })),
      ...Object.values(config.tasks).map((t) => ({ name: t.name, kind: 'task' as const, manual: true })),
    ];
    const history = new Map<string, RunSummary[]>();
    for (const d of descriptors) history.set(d.name, await engine.recentRuns(d.name, options.historyLength).catch(() => []));
    this.deps.model.reset(descriptors, history);
    this.deps.model.setCluster(await readClusterTarget(config));
    if (options.watch) await engine.startWatching();
    this.deps.log(`loaded ${file}: ${descriptors.map((d) => d.name).join(', ')}${options.watch ? ' (auto-rebuild on)' : ''}`);
    this.setPhase({ kind: 'ready' });
  }

  private async stopCurrent(): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    current.unsubscribe();
    await current.engine.dispose();
  }

  private setPhase(phase: Phase): void {
    this.phaseValue = phase;
    this.deps.onPhase(phase);
  }
}
