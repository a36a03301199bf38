import path from 'node:path';
import { stopLeftoverGroups } from './compile/process-groups.js';
import { loadConfig } from './config/load.js';
import { toolsCheck } from './doctor/tools-check.js';
import type { ResolvedConfig, Runnable } from './config/resolved.js';
import { History } from './history/history.js';
import { buildImageInBackground } from './live/background-image.js';
import { LivePodGuard } from './live/pod-guard.js';
import { runPipeline } from './run-pipeline.js';
import { MAX_CHANGED_FILES, Scheduler } from './scheduler/scheduler.js';
import type { DoctorResult, StageSet, TeardownResult } from './stages/stage.js';
import { StateStore } from './state.js';
import type { BackgroundImageState, EngineEvent, HoldReason, LogLine, PodSummary, RunSummary, RunTrigger, StageName } from './types.js';
import { readVersion, sameVersion, type FileVersion } from './watch/file-version.js';
import { ServiceFileMap, SourceWatcher } from './watch/file-watcher.js';

const MANUAL_HOLD: HoldReason = { kind: 'manual', message: 'changes pending; trigger: manual, run it to apply them' };

/** What an integration may call back into: log lines that belong to no single run (pod logs). */
/**
 * Files whose last-acted-on signature is remembered (echo suppression). Oldest first out: an
 * evicted file's late echo costs at most one extra run, and a day of saves across a monorepo
 * must not grow the map for ever.
 */
export const SEEN_FILES_MAX = 10_000;

export interface EngineHooks {
  log(line: LogLine): void;
  /** The pods of a service's workload once it is ready (for the editor's view). */
  pods?(service: string, pods: PodSummary[]): void;
}

export type StageSetFactory = (config: ResolvedConfig, hooks: EngineHooks) => Promise<StageSet> | StageSet;

export interface EngineOptions {
  /** Docker/Kubernetes stages; default: none (image..ready are skipped as not configured). */
  stages?: StageSetFactory;
}

/** The engine's own snapshot of a service or task (for headless callers; the editor builds its picture from events). */
export interface ServiceStatus {
  name: string;
  kind: 'service' | 'task';
  /** A run of it executes now. */
  running: boolean;
  /** A run of it waits to start (quiet window, dependencies, a parallelism permit, or the running one). */
  queued: boolean;
  stage?: StageName;
  last?: RunSummary;
  pendingChanges: string[];
  /** Why its queued run waits (or why a manual one does not run), if it does. */
  waiting?: HoldReason;
}

/**
 * The whole loop behind one object. It never prints and never imports editor APIs: the CLI
 * and the VS Code extension subscribe to its events and call these methods.
 */
export class Engine {
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private readonly scheduler: Scheduler;
  private readonly fileMap: ServiceFileMap;
  private readonly history: History;
  private readonly state: StateStore;
  private watcher?: SourceWatcher;
  private readonly manualPending = new Map<string, Set<string>>();
  /**
   * service → file → the version that last triggered (or was read by) a run of that service, so
   * echoes of it are dropped. Per service: one change must reach every service that watches it.
   */
  private readonly seen = new Map<string, Map<string, FileVersion>>();
  private saveBatch?: { files: Set<string>; at: number };
  private leftovers?: Promise<void>;
  /** `watch a b`: the only services file changes may trigger. */
  private watchOnly?: ReadonlySet<string>;
  /** service → time of its latest raw file change (watcher event or editor save). */
  private readonly lastActivity = new Map<string, number>();
  /** service → the image build started after its last live sync, until it ends or a run supersedes it. */
  private readonly backgroundImages = new Map<string, { controller: AbortController; done: Promise<void> }>();
  /** Watches the pods of live-update services whose pods run content their image lacks. */
  private readonly podGuard?: LivePodGuard;

  private constructor(
    readonly config: ResolvedConfig,
    private readonly stages: StageSet,
  ) {
    this.state = new StateStore(config.root);
    this.history = new History(config.root, config.settings.historyLimit, (message) => this.emit({ type: 'warning', message }), (name) => name in config.tasks);
    this.fileMap = new ServiceFileMap(config);
    const nodes = new Map<string, Runnable>([...Object.entries(config.services), ...Object.entries(config.tasks)]);
    this.scheduler = new Scheduler({
      nodes,
      parallelism: config.settings.parallelism,
      emit: (event) => this.emit(event),
      lastActivity: (name) => this.lastActivity.get(name),
      // chokidar throttles events per file (gaps of 60-140 ms inside a burst were measured), so
      // a follow-up waits for 200 ms of quiet at least.
      settleMs: Math.max(4 * config.settings.quietWindowMs, 200),
      execute: async (node, trigger, signal, runId, force) => {
        // A run never waits for the background image: it stops it (the run builds what it needs).
        this.backgroundImages.get(node.name)?.controller.abort(new Error(`superseded by run ${runId}`));
        await this.stopLeftovers();
        // What this run will read is at least as new as the files are now: a later event for
        // these exact bytes (chokidar's trailing event after a burst) is an echo, not a change.
        for (const file of trigger.changedFiles) {
          const version = await readVersion(file);
          // A folder (made again, or gone) is read whole by this run, but the versions remembered
          // for files below it are older than that: the next event for one of them is news.
          if (version === 'missing' || version.folder) this.forgetBelow(node.name, file);
          this.remember(node.name, file, version);
        }
        const summary = await runPipeline({ config, stages: this.stages, state: this.state, emit: (event) => this.emit(event) }, { node, runId, trigger, signal, force });
        // Written before the run counts as finished, so `history` right after `run` sees it.
        await this.history.append(summary).catch((error: Error) => this.emit({ type: 'warning', message: `history not written: ${error.message}` }));
        if (node.kind === 'service' && node.live) await this.afterLiveServiceRun(node.name, summary);
        return summary;
      },
    });
    if (stages.livePods) {
      this.podGuard = new LivePodGuard({
        config,
        watcher: stages.livePods,
        lastSuccess: async (name) => (await this.state.get(name)).lastSuccess,
        // Changes held back (trigger: manual) must not reach the pods through a pod's run.
        busy: (name) => {
          const { running, queued } = this.scheduler.activity(name);
          return running || queued || (this.manualPending.get(name)?.size ?? 0) > 0;
        },
        request: (name, pod) => void this.scheduler.request(name, { reason: 'pod', changedFiles: [], pod }),
        note: (service, text, level) => this.emit({ type: 'log', line: { service, stage: 'live', stream: level, text, time: Date.now() } }),
      });
    }
  }

  /**
   * After a run of a live-update service: watch its pods again if new ones would be stale, and
   * after a live sync build the image of the synced content in the background (issue 13 item 4).
   */
  private async afterLiveServiceRun(name: string, summary: RunSummary): Promise<void> {
    const service = this.config.services[name]!;
    // Once the slot is free: a pod that appeared while this run held it is then looked at too.
    void this.scheduler
      .whenIdle(name)
      .then(() => this.podGuard?.refresh(name))
      .catch((error: Error) => this.emit({ type: 'warning', service: name, message: `pods not watched: ${error.message}` }));
    const synced = summary.status === 'ok' && summary.records.some((r) => r.stage === 'live' && r.status === 'ok');
    if (!synced || !service.image || !this.stages.image || !this.stages.push) return;
    const last = (await this.state.get(name)).lastSuccess;
    if (!last?.stagedFiles) return;
    const controller = new AbortController();
    // Its errors are warnings: nothing the user ran failed.
    const log = (text: string, stream: LogLine['stream']) => this.emit({ type: 'log', line: { service: name, runId: summary.runId, stage: 'live', stream: stream === 'error' ? 'warn' : stream, text: `background image: ${text}`, time: Date.now() } });
    const event = (state: BackgroundImageState, detail: string, ref?: string) => this.emit({ type: 'background-image', service: name, runId: summary.runId, state, detail, ...(ref && { ref }) });
    event('started', 'building the image of this content in the background (never deployed; the next run stops it)');
    const done = buildImageInBackground({ config: this.config, service, stages: this.stages, runId: summary.runId, trigger: summary.trigger, last, signal: controller.signal, log })
      .then((result) => {
        // A failure is the next full delivery's to build; it is said here, with its cause, and no run fails.
        log(result.detail, result.state === 'failed' ? 'warn' : 'info');
        event(result.state, result.detail, result.ref);
      })
      .catch((error: Error) => event('failed', `internal error: ${error.message}`))
      .finally(() => {
        if (this.backgroundImages.get(name)?.controller === controller) this.backgroundImages.delete(name);
      });
    this.backgroundImages.set(name, { controller, done });
  }

  /** Loads and validates the config (throws ConfigError listing every problem) and builds the engine. */
  static async create(configFile: string, options: EngineOptions = {}): Promise<Engine> {
    return Engine.start(await loadConfig(configFile), options);
  }

  /** Builds the engine for an already loaded config, with its stages. */
  static async start(config: ResolvedConfig, options: EngineOptions = {}): Promise<Engine> {
    // The engine exists only after its stages; hooks forward to it once it does.
    const created: { engine?: Engine } = {};
    const hooks: EngineHooks = {
      log: (line) => created.engine?.emit({ type: 'log', line }),
      pods: (service, pods) => created.engine?.emit({ type: 'pods', service, pods }),
    };
    const stages = options.stages ? await options.stages(config, hooks) : {};
    created.engine = new Engine(config, stages);
    return created.engine;
  }

  static fromConfig(config: ResolvedConfig, stages: StageSet = {}): Engine {
    return new Engine(config, stages);
  }

  on(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Subscribers right now (leak checks: a closed view must have unsubscribed). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  /** True while the file watcher runs (auto-rebuild on). */
  get watching(): boolean {
    return this.watcher !== undefined;
  }

  private emit(event: EngineEvent): void {
    if (event.type === 'stage-started') this.scheduler.noteStage(event.service, event.stage);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken renderer must not break the loop.
      }
    }
  }

  get names(): string[] {
    return [...Object.keys(this.config.services), ...Object.keys(this.config.tasks)];
  }

  /**
   * Before the first command runs: stop process groups a crashed or killed Tightloop left running
   * in this workspace (recorded in .tightloop/processes), and say so.
   */
  private stopLeftovers(): Promise<void> {
    this.leftovers ??= stopLeftoverGroups(this.config.root).then(
      (stopped) => stopped.forEach((message) => this.emit({ type: 'warning', message })),
      (error: Error) => this.emit({ type: 'warning', message: `could not check for leftover processes: ${error.message}` }),
    );
    return this.leftovers;
  }

  /** Runs the named services/tasks (default: every service) with their dependencies first. */
  async run(names: string[] = Object.keys(this.config.services), options: { force?: boolean } = {}): Promise<RunSummary[]> {
    for (const name of names) this.assertKnown(name);
    for (const name of names) this.manualPending.delete(name);
    return Promise.all(names.map((name) => this.scheduler.request(name, { reason: 'manual', changedFiles: [] }, { withDependencies: true, force: options.force })));
  }

  /**
   * Watch mode: start the file watcher and let successful runs trigger their dependents. With
   * `only` (CLI `watch a b`), only those services are watched and only they are triggered.
   */
  async startWatching(options: { only?: string[] } = {}): Promise<void> {
    if (this.watcher) return;
    await this.stopLeftovers();
    for (const name of options.only ?? []) this.assertKnown(name);
    const only = options.only?.length ? new Set(options.only) : undefined;
    this.scheduler.cascade = only ?? 'all';
    this.watchOnly = only;
    this.watcher = new SourceWatcher(
      only ? new ServiceFileMap(this.config, only) : this.fileMap,
      this.config.settings.quietWindowMs,
      (batch) => void this.watchedChanges(batch.service, batch.files, batch.firstChangeAt),
      (message) => this.emit({ type: 'warning', message }),
      (service, at) => this.lastActivity.set(service, at),
    );
    await this.watcher.start();
    // A live record left by an earlier session: pods replaced since then get the synced files now.
    for (const service of Object.values(this.config.services)) if (service.live && (!only || only.has(service.name))) void this.podGuard?.refresh(service.name).catch(() => {});
  }

  async stopWatching(): Promise<void> {
    this.scheduler.cascade = false;
    this.watchOnly = undefined;
    await this.watcher?.stop();
    this.watcher = undefined;
  }

  /**
   * An editor saved these files: trigger at once, without the watcher's delay. Saves in the same
   * tick (Save All) make one batch; whichever of the save and the watcher's event for the same
   * bytes arrives second is ignored.
   */
  notifySaved(files: string[]): void {
    const at = Date.now();
    if (!this.saveBatch) {
      this.saveBatch = { files: new Set(), at };
      setImmediate(() => void this.flushSaves());
    }
    for (const file of files) {
      const absolute = path.resolve(file);
      this.saveBatch.files.add(absolute);
      for (const service of this.fileMap.servicesFor(absolute)) this.lastActivity.set(service, at);
    }
  }

  private async flushSaves(): Promise<void> {
    const batch = this.saveBatch!;
    this.saveBatch = undefined;
    const byService = new Map<string, string[]>();
    for (const file of batch.files) {
      // In remote and web windows the watcher often sees the write before the editor's save
      // event arrives: then these bytes already triggered, and a second run would only
      // supersede the first.
      for (const service of this.fileMap.servicesFor(file)) {
        if (await this.isNewVersion(service, file)) byService.set(service, [...(byService.get(service) ?? []), file]);
      }
    }
    for (const [service, files] of byService) this.changesArrived(service, files, batch.at, 'save');
  }

  /**
   * The watcher's batch, minus files whose exact bytes already triggered a run: an editor save
   * seen again by the watcher, or chokidar's trailing event after a burst. Checked when the
   * batch flushes (after the quiet window), since the file-system event can arrive before or
   * after the editor's save event.
   */
  private async watchedChanges(service: string, files: string[], firstChangeAt: number): Promise<void> {
    const fresh: string[] = [];
    for (const file of files) if (await this.isNewVersion(service, file)) fresh.push(file);
    if (fresh.length) this.changesArrived(service, fresh, firstChangeAt, 'watch');
  }

  /** Records the file's current version for the service; false when it holds the bytes last acted on. */
  private async isNewVersion(service: string, file: string): Promise<boolean> {
    const now = await readVersion(file);
    if (sameVersion(this.seenBy(service).get(file), now)) return false;
    this.remember(service, file, now);
    return true;
  }

  private seenBy(service: string): Map<string, FileVersion> {
    let map = this.seen.get(service);
    if (!map) this.seen.set(service, (map = new Map()));
    return map;
  }

  private forgetBelow(service: string, folder: string): void {
    const seen = this.seenBy(service);
    const prefix = folder.endsWith(path.sep) ? folder : folder + path.sep;
    for (const file of [...seen.keys()]) if (file.startsWith(prefix)) seen.delete(file);
  }

  /** Bounded per service: the map's order is oldest-used first, and the oldest goes past the cap. */
  private remember(service: string, file: string, version: FileVersion): void {
    const seen = this.seenBy(service);
    seen.delete(file);
    seen.set(file, version);
    if (seen.size > SEEN_FILES_MAX) seen.delete(seen.keys().next().value!);
  }

  /** How many entries the per-file and per-service collections hold (tests of their caps). */
  get retained(): { seenFiles: number; pendingFiles: number } {
    let seenFiles = 0;
    for (const map of this.seen.values()) seenFiles += map.size;
    return { seenFiles, pendingFiles: [...this.manualPending.values()].reduce((n, s) => n + s.size, 0) };
  }

  private changesArrived(name: string, files: string[], firstChangeAt: number, reason: RunTrigger['reason']): void {
    const service = this.config.services[name];
    if (!service || (this.watchOnly && !this.watchOnly.has(name))) return;
    if (service.trigger === 'manual') {
      const pending = this.manualPending.get(name) ?? new Set<string>();
      for (const f of files) if (pending.size < MAX_CHANGED_FILES) pending.add(f);
      this.manualPending.set(name, pending);
      this.emit({ type: 'changes-pending', service: name, changedFiles: [...pending] });
      this.emit({ type: 'run-waiting', service: name, reason: MANUAL_HOLD });
      return;
    }
    void this.scheduler.request(name, { reason, changedFiles: files, firstChangeAt });
  }

  /**
   * Switches a service between rebuilding on change (auto) and collecting "changes pending"
   * (manual) for this engine's lifetime; tightloop.yaml stays as written. The config object is
   * the one the scheduler reads too, so both see the same mode. Back to auto with changes
   * pending runs them at once.
   */
  setTrigger(name: string, trigger: 'auto' | 'manual'): void {
    this.assertKnown(name);
    const service = this.config.services[name];
    if (!service) throw new Error(`"${name}" is a task: tasks run when asked or after their dependencies`);
    if (service.trigger === trigger) return;
    service.trigger = trigger;
    this.emit({ type: 'trigger-changed', service: name, trigger });
    const pending = this.manualPending.get(name);
    if (trigger === 'auto' && pending?.size) {
      this.manualPending.delete(name);
      this.emit({ type: 'changes-pending', service: name, changedFiles: [] });
      void this.scheduler.request(name, { reason: 'watch', changedFiles: [...pending] });
    }
  }

  servicesForFile(file: string): string[] {
    return this.fileMap.servicesFor(path.resolve(file));
  }

  cancel(name?: string): void {
    if (name !== undefined) this.assertKnown(name);
    this.scheduler.cancel(name);
  }

  whenIdle(name?: string): Promise<void> {
    return this.scheduler.whenIdle(name);
  }

  status(): ServiceStatus[] {
    return this.names.map((name) => ({
      name,
      kind: this.config.services[name] ? 'service' : 'task',
      ...this.scheduler.activity(name),
      stage: this.scheduler.runningStage(name),
      last: this.scheduler.lastRun(name),
      pendingChanges: [...(this.manualPending.get(name) ?? [])],
      ...this.waitingOf(name),
    }));
  }

  private waitingOf(name: string): { waiting?: HoldReason } {
    const held = this.scheduler.holdReason(name);
    if (held) return { waiting: held };
    return this.manualPending.get(name)?.size ? { waiting: MANUAL_HOLD } : {};
  }

  recentRuns(service?: string, count?: number): Promise<RunSummary[]> {
    return this.history.recent(service, count);
  }

  stageStats(service: string, count?: number) {
    return this.history.stats(service, count);
  }

  async doctor(signal: AbortSignal = AbortSignal.timeout(30_000)): Promise<DoctorResult[]> {
    const results: DoctorResult[] = [{ check: 'config', status: 'ok', message: `${this.config.file} is valid (${this.names.length} services/tasks)` }];
    for (const check of [toolsCheck, ...(this.stages.doctor ?? [])]) {
      try {
        results.push(...(await check.run(this.config, signal)));
      } catch (error) {
        results.push({ check: check.name, status: 'fail', message: (error as Error).message });
      }
    }
    return results;
  }

  /**
   * `down`: delete what was applied from manifests for the named services/resources (default: all
   * of them), dependents before what they depend on, each waited for until gone. Refused (throws)
   * for a context outside allowContexts; nothing else is ever deleted.
   */
  async down(names?: string[], signal: AbortSignal = new AbortController().signal): Promise<TeardownResult[]> {
    for (const name of names ?? []) this.assertKnown(name);
    const withManifests = (name: string) => !!this.config.services[name]?.deploy?.manifests;
    const selected = (names ?? Object.keys(this.config.services)).filter(withManifests);
    if (selected.length === 0) return [];
    const teardown = this.stages.teardown;
    if (!teardown) throw new Error('no Kubernetes cluster configured (no kubeconfig found: set KUBECONFIG or kubernetes.kubeconfig)');
    const results: TeardownResult[] = [];
    for (const name of teardownOrder(this.config, selected)) {
      const service = this.config.services[name]!;
      const log = (text: string, stream: LogLine['stream'] = 'info') => this.emit({ type: 'log', line: { service: name, stage: 'deploy', stream, text, time: Date.now() } });
      results.push(await teardown.down(this.config, service, signal, log));
      // The next run must apply again: forget the last apply's hash.
      const state = await this.state.get(name);
      if (state.lastSuccess?.manifests) {
        const { manifests: _gone, ...rest } = state.lastSuccess;
        await this.state.set(name, { ...state, lastSuccess: rest });
      }
    }
    return results;
  }

  async dispose(): Promise<void> {
    // Close before anything else: a queued run (waiting for a dependency, a slot or the quiet
    // window) must not start while the engine goes away.
    this.scheduler.close();
    this.podGuard?.stop();
    await this.stopWatching();
    await this.scheduler.whenIdle().catch(() => {});
    for (const background of this.backgroundImages.values()) background.controller.abort(new Error('Tightloop is shutting down'));
    await Promise.all([...this.backgroundImages.values()].map((b) => b.done));
    await this.stages.dispose?.();
    this.listeners.clear();
  }

  private assertKnown(name: string): void {
    if (!this.config.services[name] && !this.config.tasks[name]) {
      throw new Error(`unknown service or task "${name}" (known: ${this.names.join(', ')})`);
    }
  }
}

/** Dependents before their dependencies (reverse of the run order), restricted to `selected`. */
export function teardownOrder(config: ResolvedConfig, selected: string[]): string[] {
  const deps = (name: string) => config.services[name]?.dependsOn ?? config.tasks[name]?.dependsOn ?? [];
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const d of deps(name)) visit(d);
    order.push(name);
  };
  for (const name of [...Object.keys(config.services), ...Object.keys(config.tasks)]) visit(name);
  const wanted = new Set(selected);
  return order.filter((n) => wanted.has(n)).reverse();
}
