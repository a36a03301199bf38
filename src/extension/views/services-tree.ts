import * as vscode from 'vscode';
import type { ModelChange, RunModel } from '../model/run-model.js';
import { COMMANDS_IN_TOOLTIP } from '../model/status-model.js';
import { childKeys, entryKey, node, rootKeys, type TreeInput, type TreeNode } from '../model/tree-model.js';
import { TreeUpdates } from '../model/tree-updates.js';

export const VIEW_ID = 'tightloop.services';

/**
 * What the tree hands to VS Code, and what inline actions receive as their argument: the node's
 * key and the service it belongs to. One object per key, so change events reach the right row.
 */
export interface TreeElement {
  readonly key: string;
  readonly service?: string;
  readonly url?: string;
}

/** A node as the extension-host tests see it: the TreeItem VS Code got, and its children. */
export interface TreeSnapshotNode {
  key: string;
  label: string;
  description?: string;
  icon?: string;
  color?: string;
  contextValue?: string;
  command?: string;
  ariaLabel?: string;
  children: TreeSnapshotNode[];
}

/**
 * The Tightloop view: renders tree-model nodes as TreeItems. It reads the run model only when VS
 * Code asks, and tells VS Code about changed nodes only (coalesced), so 300 services stay cheap.
 */
export class ServicesTree implements vscode.TreeDataProvider<TreeElement>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<TreeElement | TreeElement[] | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  readonly view: vscode.TreeView<TreeElement>;
  private readonly elements = new Map<string, TreeElement>();
  private readonly updates: TreeUpdates;
  /** Rows whose failure line was already shown: a new failure is revealed once. */
  private readonly revealed = new Set<string>();
  private ticker: ReturnType<typeof setInterval> | undefined;
  /** Change events sent so far (tests check that a run refreshes its own row only). */
  readonly sent: { keys: string[] | 'all' }[] = [];

  constructor(
    private readonly model: RunModel,
    private readonly input: () => TreeInput,
  ) {
    this.updates = new TreeUpdates(model, (keys) => this.send(keys));
    this.view = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: this, showCollapseAll: true });
  }

  /** The run model changed: refresh the rows of the services that did. */
  modelChanged(change: ModelChange): void {
    this.updates.modelChanged(change);
    this.tick();
  }

  /** Phase or settings changed: the whole tree. */
  refreshAll(): void {
    this.updates.refreshAll();
    this.tick();
  }

  getTreeItem(element: TreeElement): vscode.TreeItem {
    const n = node(element.key, this.input());
    if (!n) return new vscode.TreeItem('', vscode.TreeItemCollapsibleState.None);
    return toTreeItem(n);
  }

  getChildren(element?: TreeElement): TreeElement[] {
    const input = this.input();
    const keys = element ? childKeys(element.key, input) : rootKeys(input);
    return keys.flatMap((key) => {
      const n = node(key, input);
      return n ? [this.element(n)] : [];
    });
  }

  getParent(element: TreeElement): TreeElement | undefined {
    const parts = element.key.split('/');
    if (parts[0] !== 'service' && parts[0] !== 'task') return undefined;
    if (parts.length === 2) return this.elements.get(parts[0] === 'service' ? 'group/services' : 'group/tasks');
    return this.elements.get(parts.slice(0, 2).join('/'));
  }

  /** The whole tree as VS Code receives it (for tests in the extension host). */
  snapshot(): TreeSnapshotNode[] {
    this.updates.flush();
    const walk = (element: TreeElement): TreeSnapshotNode => {
      const item = this.getTreeItem(element);
      const icon = item.iconPath instanceof vscode.ThemeIcon ? item.iconPath : undefined;
      return {
        key: element.key,
        label: typeof item.label === 'string' ? item.label : (item.label?.label ?? ''),
        description: typeof item.description === 'string' ? item.description : undefined,
        icon: icon?.id,
        color: icon?.color?.id,
        contextValue: item.contextValue,
        command: item.command?.command,
        ariaLabel: item.accessibilityInformation?.label,
        children: this.getChildren(element).map(walk),
      };
    };
    return this.getChildren().map(walk);
  }

  /** The element for a key, if the tree has shown it (for inline-action tests). */
  elementFor(key: string): TreeElement | undefined {
    if (!this.elements.has(key)) this.snapshot();
    return this.elements.get(key);
  }

  dispose(): void {
    this.updates.dispose();
    if (this.ticker) clearInterval(this.ticker);
    this.view.dispose();
    this.emitter.dispose();
  }

  private element(n: TreeNode): TreeElement {
    const existing = this.elements.get(n.key);
    if (existing && existing.url === n.url && existing.service === n.service) return existing;
    const created: TreeElement = { key: n.key, ...(n.service && { service: n.service }), ...(n.url && { url: n.url }) };
    this.elements.set(n.key, created);
    return created;
  }

  private send(keys: string[] | undefined): void {
    if (!keys) {
      this.elements.clear();
      this.sent.push({ keys: 'all' });
      this.emitter.fire(undefined);
      return;
    }
    // Rows VS Code never received need no refresh: it asks for them when they are shown.
    const known = keys.flatMap((key) => this.elements.get(key) ?? []);
    if (known.length === 0) return;
    this.sent.push({ keys: known.map((e) => e.key) });
    if (this.sent.length > 1000) this.sent.splice(0, this.sent.length - 1000);
    this.emitter.fire(known);
    this.revealFailures(known);
  }

  /**
   * A run that just failed: open its row so the one-sentence cause is seen without a click.
   * (VS Code keeps a row's collapsed state by id, so a row that had no children stays closed.)
   */
  private revealFailures(rows: TreeElement[]): void {
    const input = this.input();
    for (const row of rows) {
      const failureKey = `${row.key}/failure`;
      const failure = node(failureKey, input);
      if (!failure) {
        this.revealed.delete(row.key);
        continue;
      }
      if (this.revealed.has(row.key) || !this.view.visible) continue;
      this.revealed.add(row.key);
      const element = this.element(failure);
      void Promise.resolve(this.view.reveal(element, { select: false, focus: false })).catch(() => {});
    }
  }

  /** Running rows show elapsed time: refresh those (only those) once a second while any runs. */
  private tick(): void {
    const running = this.model.running();
    if (running.length > 0 && !this.ticker) {
      this.ticker = setInterval(() => {
        const now = this.model.running();
        if (now.length === 0) {
          clearInterval(this.ticker);
          this.ticker = undefined;
          return;
        }
        this.updates.changed(now.map(entryKey));
      }, 1000);
    }
  }
}

function toTreeItem(n: TreeNode): vscode.TreeItem {
  const state = { none: vscode.TreeItemCollapsibleState.None, collapsed: vscode.TreeItemCollapsibleState.Collapsed, expanded: vscode.TreeItemCollapsibleState.Expanded }[n.collapsible];
  const item = new vscode.TreeItem(n.label, state);
  item.id = n.key;
  item.description = n.description;
  if (n.tooltip) {
    const tooltip = new vscode.MarkdownString(n.tooltip, true);
    tooltip.isTrusted = { enabledCommands: COMMANDS_IN_TOOLTIP };
    item.tooltip = tooltip;
  }
  item.iconPath = new vscode.ThemeIcon(n.icon.id, n.icon.color ? new vscode.ThemeColor(n.icon.color) : undefined);
  item.contextValue = n.contextValue;
  if (n.command) item.command = n.command;
  item.accessibilityInformation = { label: n.ariaLabel };
  return item;
}
