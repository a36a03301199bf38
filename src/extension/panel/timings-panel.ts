import path from 'node:path';
import * as vscode from 'vscode';
import { parseFromWebview, type FromWebview, type ToWebview } from '../../shared/messages.js';
import type { ModelChange, RunModel } from '../model/run-model.js';
import type { Phase } from '../model/status-model.js';
import { panelHtml } from './html.js';
import { historyOf, runView, servicesMessage } from './panel-feed.js';
import { l10n } from '../l10n.js';

export const VIEW_TYPE = 'tightloop.timings';

/** What the panel needs from the rest of the extension. */
export interface PanelHost {
  extensionUri: vscode.Uri;
  model: RunModel;
  phase(): Phase;
  configFile(): string | undefined;
  historyLength(): number;
  /** Buttons in the panel (rebuild, cancel, run task, open config…). */
  act(message: FromWebview): Promise<void>;
  log(message: string, level?: 'info' | 'warn' | 'error'): void;
}

/** Services updates are coalesced: a burst of engine events becomes one message. */
const FLUSH_MS = 80;
const HISTORY_BATCH = 40;
const LOG_LINES = 1000;

/**
 * The stage-timings webview: one instance at a time. It pushes the model to the webview and
 * turns the webview's (validated) requests into actions; everything it shows is data.
 */
export class TimingsPanel implements vscode.Disposable {
  private static current?: TimingsPanel;
  /** Panels constructed and not yet disposed, and the disposables they hold (leak checks). */
  static readonly live = new Set<TimingsPanel>();
  private readonly disposables: vscode.Disposable[] = [];
  private flushTimer?: ReturnType<typeof setTimeout>;
  private pendingHistory = new Set<string>();
  private selection?: { service: string; runId: string; stage: NonNullable<Extract<FromWebview, { type: 'showLog' }>['stage']> };
  private ready = false;
  private focusAfterReady?: string;

  static show(host: PanelHost, focus?: string): TimingsPanel {
    const existing = TimingsPanel.current;
    if (existing) {
      existing.panel.reveal(undefined, false);
      if (focus) existing.focus(focus);
      return existing;
    }
    // Beside the code being edited, so a save and its waterfall are both in view.
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active;
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, l10n.t('Tightloop: Stage Timings'), { viewColumn: column, preserveFocus: false }, TimingsPanel.options(host));
    const created = new TimingsPanel(panel, host);
    if (focus) created.focus(focus);
    return created;
  }

  /** Called by the serializer after a window reload: the webview restores its own state. */
  static revive(host: PanelHost, panel: vscode.WebviewPanel): TimingsPanel {
    TimingsPanel.current?.dispose();
    panel.webview.options = TimingsPanel.options(host);
    return new TimingsPanel(panel, host);
  }

  static get instance(): TimingsPanel | undefined {
    return TimingsPanel.current;
  }

  private static options(host: PanelHost): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      enableCommandUris: false,
      // State lives in getState/setState, so the webview may be discarded while hidden.
      retainContextWhenHidden: false,
      localResourceRoots: [vscode.Uri.joinPath(host.extensionUri, 'dist'), vscode.Uri.joinPath(host.extensionUri, 'media')],
    };
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly host: PanelHost,
  ) {
    TimingsPanel.current = this;
    TimingsPanel.live.add(this);
    const webview = panel.webview;
    panel.iconPath = vscode.Uri.joinPath(host.extensionUri, 'media', 'icon.png');
    webview.html = panelHtml({
      cspSource: webview.cspSource,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(host.extensionUri, 'dist', 'webview.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(host.extensionUri, 'media', 'panel.css')).toString(),
    });
    this.disposables.push(
      webview.onDidReceiveMessage((data: unknown) => void this.received(data)),
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState(() => {
        // A hidden webview is torn down; it says "ready" again when shown.
        if (!panel.visible) this.ready = false;
      }),
    );
    const unsubscribe = host.model.onChange((change) => this.modelChanged(change));
    this.disposables.push({ dispose: unsubscribe });
  }

  get heldDisposables(): number {
    return this.disposables.length + (this.flushTimer ? 1 : 0);
  }

  /** Re-sends everything (phase or settings changed). */
  refresh(): void {
    if (!this.ready) return;
    for (const entry of this.host.model.all()) this.pendingHistory.add(entry.name);
    this.scheduleFlush();
  }

  focus(service: string): void {
    if (this.ready) void this.post({ type: 'focus', service });
    else this.focusAfterReady = service;
  }

  private modelChanged(change: ModelChange): void {
    if (!this.ready) return;
    for (const name of change.history) this.pendingHistory.add(name);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, FLUSH_MS);
  }

  private async flush(): Promise<void> {
    await this.post(servicesMessage(this.host.model, this.host.phase(), this.host.configFile(), this.host.historyLength()));
    const names = [...this.pendingHistory];
    this.pendingHistory.clear();
    for (let i = 0; i < names.length; i += HISTORY_BATCH) {
      const histories = names
        .slice(i, i + HISTORY_BATCH)
        .map((name) => this.host.model.get(name))
        .filter((e) => e !== undefined)
        .map((e) => historyOf(e, this.host.historyLength()));
      if (histories.length) await this.post({ type: 'history', histories });
    }
    // A stage that is still producing output: keep its log view current.
    const sel = this.selection;
    if (sel && this.host.model.get(sel.service)?.live?.runId === sel.runId) this.sendLog(sel);
  }

  private async received(data: unknown): Promise<void> {
    const parsed = parseFromWebview(data);
    if (!parsed.ok) {
      this.host.log(`panel: ignored an invalid message (${parsed.error})`, 'warn');
      return;
    }
    const message = parsed.value;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.refresh();
        if (this.focusAfterReady) {
          this.focus(this.focusAfterReady);
          this.focusAfterReady = undefined;
        }
        return;
      case 'showLog':
        this.selection = { service: message.service, runId: message.runId, stage: message.stage };
        this.sendLog(this.selection);
        return;
      case 'showRun': {
        const run = this.host.model.findRun(message.service, message.runId);
        await this.post({ type: 'run', service: message.service, runId: message.runId, ...(run && { run: runView(run, this.rootDir()) }) });
        return;
      }
      case 'cspViolation':
        this.host.log(`panel: Content-Security-Policy blocked ${message.blocked} (${message.directive})`, 'error');
        return;
      default:
        await this.host.act(message);
    }
  }

  private sendLog(sel: { service: string; runId: string; stage: Extract<FromWebview, { type: 'showLog' }>['stage'] }): void {
    const { lines, dropped, available } = this.host.model.logs.get(sel.service, sel.runId, sel.stage, LOG_LINES);
    void this.post({
      type: 'log',
      service: sel.service,
      runId: sel.runId,
      stage: sel.stage,
      lines: lines.map((l) => ({ stream: l.stream, text: l.text, time: l.time })),
      dropped,
      available,
    });
  }

  private async post(message: ToWebview): Promise<void> {
    try {
      await this.panel.webview.postMessage(message);
    } catch {
      // Disposed between scheduling and sending: nothing to do.
    }
  }

  private rootDir(): string | undefined {
    const file = this.host.configFile();
    return file ? path.dirname(file) : undefined;
  }

  dispose(): void {
    if (TimingsPanel.current === this) TimingsPanel.current = undefined;
    TimingsPanel.live.delete(this);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

export function registerPanelSerializer(host: PanelHost): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel) {
      TimingsPanel.revive(host, panel);
    },
  });
}
