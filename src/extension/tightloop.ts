import { readFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import { parseConfigText, type Engine, type EngineEvent, type RunSummary } from '../engine/index.js';
import { createIntegrations } from '../engine/integrations.js';
import type { FromWebview } from '../shared/messages.js';
import { EngineSession } from './engine-session.js';
import { UserError } from './errors.js';
import { RecentEdits } from './model/recent-edits.js';
import { RunModel } from './model/run-model.js';
import { statusBarServices, statusPicture, type Phase, type StatusPicture } from './model/status-model.js';
import { chooseConfig, filesToNotify, isConfigFile, rebuildTargets } from './model/targets.js';
import { Output } from './output.js';
import { registerPanelSerializer, TimingsPanel, type PanelHost } from './panel/timings-panel.js';
import { serviceView } from './panel/panel-feed.js';
import { Problems } from './problems.js';
import { affects, readSettings, type Settings } from './settings.js';
import { StatusBar } from './status-bar.js';
import type { TreeInput } from './model/tree-model.js';
import { ServicesTree } from './views/services-tree.js';
import { l10n } from './l10n.js';

const CONFIG_GLOB = '**/tightloop.yaml';
const CONFIG_EXCLUDE = '{**/node_modules/**,**/.git/**,**/.tightloop/**}';
/** Typing in tightloop.yaml re-validates after this pause. */
const VALIDATE_DELAY_MS = 250;

export function untrustedReason(): string {
  return l10n.t('This workspace is in Restricted Mode. Tightloop runs the commands in tightloop.yaml (compile, image builds, deploys), so it runs nothing until you trust the workspace.');
}

/**
 * The composition root (rust-analyzer's ctx.ts): it creates and owns every disposable, wires the
 * engine's events to the model, and the model to the status bar, Problems and the panel. Commands
 * receive this object and call its few verbs.
 */
export class Tightloop implements vscode.Disposable, PanelHost {
  readonly output = new Output();
  readonly problems = new Problems();
  readonly model: RunModel;
  readonly session: EngineSession;
  readonly statusBar: StatusBar;
  readonly tree: ServicesTree;
  settings: Settings = readSettings();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly validateTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Where the user edited each config lately: a dependency cycle is named at the entry just typed. */
  private readonly recentEdits = new RecentEdits();
  /** The config found in the workspace, known even when nothing may run (untrusted). */
  private foundConfig?: string;
  private discovering: Promise<void> = Promise.resolve();

  constructor(readonly extensionContext: vscode.ExtensionContext) {
    this.model = new RunModel(this.settings.historyLength);
    this.session = new EngineSession({
      model: this.model,
      stages: createIntegrations,
      onEvent: (event) => this.engineEvent(event),
      onPhase: () => this.phaseChanged(),
      onConfigIssues: (file, issues) => void this.showConfigIssues(file, issues),
      log: (message, level = 'info') => this.log(message, level),
    });
    this.statusBar = new StatusBar(() => this.picture());
    this.tree = new ServicesTree(this.model, () => this.treeInput());
    this.disposables.push(this.output, this.problems, this.statusBar, this.tree, registerPanelSerializer(this));

    const unsubscribe = this.model.onChange((change) => {
      this.tree.modelChanged(change);
      if (change.diagnostics.size > 0) this.problems.setCompile(this.model.all().map((e) => [e.name, e.diagnostics] as [string, typeof e.diagnostics]));
      this.statusBar.refresh();
      void vscode.commands.executeCommand('setContext', 'tightloop.running', this.model.running().length > 0);
    });
    this.disposables.push({ dispose: unsubscribe });
    this.listen();
  }

  get extensionUri(): vscode.Uri {
    return this.extensionContext.extensionUri;
  }

  phase(): Phase {
    return this.session.phase;
  }

  configFile(): string | undefined {
    return this.session.configFile ?? this.foundConfig;
  }

  historyLength(): number {
    return this.settings.historyLength;
  }

  picture(): StatusPicture {
    return statusPicture({
      phase: this.phase(),
      services: statusBarServices(this.model.all(), this.settings.statusBarServices),
      autoRebuild: this.settings.autoRebuildOnSave,
      now: Date.now(),
    });
  }

  /** What the Tightloop view draws: the same run model as the status bar and the panel. */
  treeInput(): TreeInput {
    const model = this.model;
    return {
      phase: this.phase(),
      get: (name) => model.get(name),
      services: () => model.services(),
      tasks: () => model.tasks(),
      cluster: model.cluster,
      autoRebuild: this.settings.autoRebuildOnSave,
      now: Date.now(),
    };
  }

  log(message: string, level: 'info' | 'warn' | 'error' = 'info'): void {
    if (level === 'error') this.output.error(message);
    else if (level === 'warn') this.output.warn(message);
    else this.output.info(message);
  }

  /** Finds tightloop.yaml and (re)starts the engine for it, if the workspace is trusted. */
  discover(): Promise<void> {
    this.discovering = this.discovering.then(async () => {
      const found = await vscode.workspace.findFiles(CONFIG_GLOB, CONFIG_EXCLUDE, 50);
      this.foundConfig = chooseConfig(found.map((u) => u.fsPath));
      void vscode.commands.executeCommand('setContext', 'tightloop.hasConfig', Boolean(this.foundConfig));
      if (this.foundConfig) await this.validateFromDisk(this.foundConfig);
      if (!vscode.workspace.isTrusted) {
        await this.session.unload({ kind: this.foundConfig ? 'untrusted' : 'no-config' });
        if (this.foundConfig) this.log(untrustedReason(), 'warn');
        return;
      }
      if (!this.foundConfig) {
        await this.session.unload({ kind: 'no-config' });
        return;
      }
      await this.session.load(this.foundConfig, this.loadOptions());
    });
    return this.discovering;
  }

  /** Resolves when discovery and every engine (re)load queued so far are done. */
  async settled(): Promise<void> {
    await this.discovering;
    await this.session.settled();
  }

  private loadOptions() {
    return { watch: this.settings.autoRebuildOnSave, quietWindowMs: this.settings.quietWindowMs, historyLength: this.settings.historyLength };
  }

  /**
   * The engine, once discovery and any (re)load in progress are done: a command given while
   * tightloop.yaml is loading waits for it instead of failing.
   */
  async engineReady(): Promise<Engine> {
    if (vscode.workspace.isTrusted && (this.session.phase.kind === 'loading' || !this.session.engine)) await this.settled();
    return this.requireEngine();
  }

  /** The running engine, or a UserError that says why there is none and what to do. */
  requireEngine(): Engine {
    if (!vscode.workspace.isTrusted) {
      throw new UserError(untrustedReason(), [{ title: l10n.t('Manage Workspace Trust'), command: 'workbench.trust.manage' }]);
    }
    const engine = this.session.engine;
    if (engine) return engine;
    const phase = this.session.phase;
    if (phase.kind === 'config-error') {
      throw new UserError(l10n.t('tightloop.yaml has {0} problem(s); fix them first (see Problems).', phase.count), [
        { title: l10n.t('Open Config'), command: 'tightloop.openConfig' },
        { title: l10n.t('Show Problems'), command: 'workbench.actions.view.problems' },
      ]);
    }
    if (phase.kind === 'loading') throw new UserError(l10n.t('Tightloop is still loading tightloop.yaml; try again in a moment.'));
    throw new UserError(l10n.t('No tightloop.yaml in this workspace.'), [{ title: l10n.t('Create Config'), command: 'tightloop.createConfig' }]);
  }

  /** Starts runs and reports a failure the user asked for (auto-rebuilds only show in the status bar). */
  async rebuild(names: string[], options: { force?: boolean } = {}): Promise<RunSummary[]> {
    const engine = await this.engineReady();
    const summaries = await engine.run(names, options);
    const failed = summaries.filter((s) => s.status === 'failed');
    if (failed.length > 0) {
      const first = failed[0]!;
      const timings = l10n.t('Show Stage Timings');
      const logs = l10n.t('Show Logs');
      const text = first.error ? l10n.t('Tightloop: {0} failed — {1}', first.service, first.error) : l10n.t('Tightloop: {0} failed', first.service);
      void vscode.window
        .showErrorMessage(text, timings, logs)
        .then((choice) => {
          if (choice === timings) void vscode.commands.executeCommand('tightloop.showStageTimings', first.service);
          if (choice === logs) this.output.show();
        });
    }
    return summaries;
  }

  /** What a status-bar click or "Rebuild Service of Current File" means right now. */
  async currentTargets(): Promise<{ names: string[]; because: string }> {
    const engine = await this.engineReady();
    const doc = vscode.window.activeTextEditor?.document;
    return rebuildTargets({
      activeFile: doc?.uri.scheme === 'file' ? doc.uri.fsPath : undefined,
      servicesForFile: (file) => engine.servicesForFile(file),
      configured: this.settings.statusBarServices,
      services: this.model.services().map((s) => s.name),
    });
  }

  showPanel(focus?: string): void {
    TimingsPanel.show(this, focus);
  }

  /** Buttons in the panel. */
  async act(message: FromWebview): Promise<void> {
    const run = (command: string, ...args: unknown[]) => vscode.commands.executeCommand(command, ...args);
    switch (message.type) {
      case 'rebuild':
        await run(message.service ? 'tightloop.rebuildService' : 'tightloop.rebuildAll', ...(message.service ? [message.service] : []));
        break;
      case 'cancel':
        await run('tightloop.cancelRun', ...(message.service ? [message.service] : []));
        break;
      case 'runTask':
        await run('tightloop.runTask', ...(message.task ? [message.task] : []));
        break;
      case 'openConfig':
        await run('tightloop.openConfig');
        break;
      case 'createConfig':
        await run('tightloop.createConfig');
        break;
      case 'manageTrust':
        await run('workbench.trust.manage');
        break;
      case 'showLogs':
        this.output.show();
        break;
      default:
        break;
    }
  }

  /** For tests inside the extension host: the state as the UI sees it. */
  /**
   * What a long session could leak, counted (the extension-host test opens and closes the panel
   * and toggles auto-rebuild many times and expects these back where they were).
   */
  counts() {
    const handles = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? [];
    return {
      disposables: this.disposables.length,
      modelListeners: this.model.listenerCount,
      engineListeners: this.session.engine?.listenerCount ?? 0,
      panels: TimingsPanel.live.size,
      panelDisposables: [...TimingsPanel.live].reduce((n, p) => n + p.heldDisposables, 0),
      validateTimers: this.validateTimers.size,
      fsWatchers: handles.filter((h) => ['FSWatcher', 'FSEvent', 'StatWatcher'].includes(h.constructor.name)).length,
      watching: this.session.engine?.watching ?? false,
    };
  }

  snapshot() {
    return { phase: this.phase(), status: this.picture(), configFile: this.configFile(), services: this.model.all().map((e) => serviceView(e)), settings: this.settings };
  }

  private engineEvent(event: EngineEvent): void {
    this.model.apply(event);
    this.output.event(event);
  }

  private phaseChanged(): void {
    this.statusBar.refresh();
    this.tree.refreshAll();
    TimingsPanel.instance?.refresh();
  }

  private listen(): void {
    const ws = vscode.workspace;
    const configWatcher = ws.createFileSystemWatcher(CONFIG_GLOB);
    this.disposables.push(
      configWatcher,
      // Created or deleted: the set of configs changed. Changed on disk (git, another editor): reload.
      configWatcher.onDidCreate(() => void this.discover()),
      configWatcher.onDidDelete((uri) => {
        this.problems.clearConfig(uri.fsPath);
        void this.discover();
      }),
      configWatcher.onDidChange((uri) => {
        if (uri.fsPath === this.configFile()) void this.reloadConfig();
      }),
      ws.onDidSaveTextDocument((doc) => this.saved(doc)),
      ws.onDidOpenTextDocument((doc) => this.validateDocument(doc)),
      ws.onDidChangeTextDocument((e) => {
        if (isConfigFile(e.document.uri.fsPath)) {
          this.recentEdits.note(e.document.uri.toString(), e.contentChanges.map((c) => ({ startLine: c.range.start.line, endLine: c.range.end.line, text: c.text })));
        }
        this.scheduleValidation(e.document);
      }),
      ws.onDidCloseTextDocument((doc) => {
        this.recentEdits.forget(doc.uri.toString());
        // Problems of a config we do not run disappear with its editor; the active one's stay.
        if (isConfigFile(doc.uri.fsPath) && doc.uri.fsPath !== this.configFile()) this.problems.clearConfig(doc.uri.fsPath);
      }),
      ws.onDidChangeConfiguration((e) => this.settingsChanged(e)),
      ws.onDidGrantWorkspaceTrust(() => {
        this.log('workspace trusted: starting');
        void this.discover();
      }),
      ws.onDidChangeWorkspaceFolders(() => void this.discover()),
    );
    for (const doc of ws.textDocuments) this.validateDocument(doc);
  }

  private saved(doc: vscode.TextDocument): void {
    if (isConfigFile(doc.uri.fsPath)) {
      this.validateDocument(doc);
      if (doc.uri.fsPath === this.configFile()) void this.reloadConfig();
      else if (!this.foundConfig) void this.discover();
      return;
    }
    if (!this.settings.autoRebuildOnSave || !vscode.workspace.isTrusted) return;
    const engine = this.session.engine;
    if (!engine) return;
    const files = filesToNotify([{ scheme: doc.uri.scheme, fsPath: doc.uri.fsPath }], this.configFile());
    if (files.length === 0) return;
    // Zero-latency path: the engine batches saves of one tick (Save All) and drops whichever of
    // the save and the watcher's event for the same bytes comes second.
    engine.notifySaved(files);
  }

  private async reloadConfig(): Promise<void> {
    const file = this.configFile();
    if (!file || !vscode.workspace.isTrusted) return;
    await this.session.load(file, this.loadOptions());
  }

  private settingsChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration('tightloop')) return;
    const before = this.settings;
    this.settings = readSettings();
    if (affects(e, 'historyLength')) this.model.setHistoryLimit(this.settings.historyLength);
    if (affects(e, 'quietWindowMs') && before.quietWindowMs !== this.settings.quietWindowMs) void this.reloadConfigForced();
    else if (affects(e, 'autoRebuildOnSave')) {
      this.log(`auto-rebuild on save ${this.settings.autoRebuildOnSave ? 'on' : 'off'}`);
      void this.session.setWatching(this.settings.autoRebuildOnSave);
    }
    this.statusBar.refresh();
    TimingsPanel.instance?.refresh();
  }

  private async reloadConfigForced(): Promise<void> {
    const file = this.configFile();
    if (file && vscode.workspace.isTrusted) await this.session.load(file, this.loadOptions(), true);
  }

  private scheduleValidation(doc: vscode.TextDocument): void {
    if (!isConfigFile(doc.uri.fsPath) || doc.uri.scheme !== 'file') return;
    const key = doc.uri.toString();
    clearTimeout(this.validateTimers.get(key));
    this.validateTimers.set(
      key,
      setTimeout(() => {
        this.validateTimers.delete(key);
        this.validateDocument(doc);
      }, VALIDATE_DELAY_MS),
    );
  }

  /** Live validation: parse the editor's text (saved or not) and put every problem at its range. */
  private validateDocument(doc: vscode.TextDocument): void {
    if (!isConfigFile(doc.uri.fsPath) || doc.uri.scheme !== 'file' || doc.isClosed) return;
    const text = doc.getText();
    const { issues } = parseConfigText(text, doc.uri.fsPath, process.env, { recentEdits: this.recentEdits.lines(doc.uri.toString()) });
    this.problems.setConfigIssues(doc.uri.fsPath, text, issues);
  }

  private async validateFromDisk(file: string): Promise<void> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === file);
    if (open) return this.validateDocument(open);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return;
    this.problems.setConfigIssues(file, text, parseConfigText(text, file).issues);
  }

  private async showConfigIssues(file: string, issues: Parameters<Problems['setConfigIssues']>[2]): Promise<void> {
    // The open editor's text is what the user sees; the loader read the file on disk.
    const open = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === file);
    if (open?.isDirty) return;
    // The editor's own validation knows the recent edits (which entry closed a cycle).
    if (open) return this.validateDocument(open);
    const text = await readFile(file, 'utf8').catch(() => '');
    this.problems.setConfigIssues(file, text, issues);
  }

  dispose(): void {
    for (const timer of this.validateTimers.values()) clearTimeout(timer);
    TimingsPanel.instance?.dispose();
    for (const d of this.disposables.splice(0).reverse()) {
      try {
        d.dispose();
      } catch {
        // Keep disposing the rest.
      }
    }
  }

  /** Awaited by deactivate: stops runs, watchers, port-forwards. */
  async shutdown(): Promise<void> {
    this.dispose();
    await this.session.dispose();
  }
}
