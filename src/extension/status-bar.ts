import * as vscode from 'vscode';
import { COMMANDS_IN_TOOLTIP, type StatusPicture } from './model/status-model.js';

/** The one status-bar item. It only renders pictures; deciding what to show is status-model's job. */
export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private ticker?: ReturnType<typeof setInterval>;

  constructor(private readonly picture: () => StatusPicture) {
    this.item = vscode.window.createStatusBarItem('tightloop.status', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'Tightloop';
    this.refresh();
    this.item.show();
  }

  refresh(): void {
    const p = this.picture();
    this.item.text = p.text;
    const tooltip = new vscode.MarkdownString(p.tooltip, true);
    tooltip.isTrusted = { enabledCommands: COMMANDS_IN_TOOLTIP };
    tooltip.supportHtml = false;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = p.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.color = p.error ? new vscode.ThemeColor('statusBarItem.errorForeground') : undefined;
    this.item.command = { title: 'Tightloop', command: p.command.command, arguments: p.command.arguments };
    this.item.accessibilityInformation = { label: `Tightloop: ${p.text.replace(/\$\([^)]*\)\s*/g, '')}` };
    // Elapsed time is in the text: tick once a second while something runs, not otherwise.
    if (p.ticking && !this.ticker) this.ticker = setInterval(() => this.refresh(), 1000);
    if (!p.ticking && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  dispose(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.item.dispose();
  }
}
