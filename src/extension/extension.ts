import * as vscode from 'vscode';
import { registerCommands } from './commands/index.js';
import { Tightloop } from './tightloop.js';
import { useTranslator } from './l10n.js';
import type { TreeElement, TreeSnapshotNode } from './views/services-tree.js';

let instance: Tightloop | undefined;

/** What `activate` returns: enough for tests in the extension host to see what the UI shows. */
export interface TightloopApi {
  snapshot: Tightloop['snapshot'];
  counts: Tightloop['counts'];
  settled(): Promise<void>;
  whenIdle(): Promise<void>;
  /** The Tightloop view as VS Code received it. */
  tree(): TreeSnapshotNode[];
  /** The element a row passes to its inline actions. */
  treeElement(key: string): TreeElement | undefined;
  /** Change events the view sent (keys refreshed, or 'all'). */
  treeEvents(): { keys: string[] | 'all' }[];
}

/** Cheap by design: no Docker or cluster call happens until a run needs one. */
export function activate(context: vscode.ExtensionContext): TightloopApi {
  // Every l10n.t('…') in src/extension goes through this (see l10n.ts).
  const api = vscode.l10n;
  useTranslator((message, ...args) => api.t(message, ...args));
  const tl = new Tightloop(context);
  instance = tl;
  context.subscriptions.push(tl, ...registerCommands(tl));
  void tl.discover();
  return {
    snapshot: () => tl.snapshot(),
    counts: () => tl.counts(),
    tree: () => tl.tree.snapshot(),
    treeElement: (key) => tl.tree.elementFor(key),
    treeEvents: () => tl.tree.sent,
    settled: () => tl.settled(),
    whenIdle: async () => {
      await tl.settled();
      await tl.session.engine?.whenIdle();
    },
  };
}

export async function deactivate(): Promise<void> {
  const tl = instance;
  instance = undefined;
  await tl?.shutdown();
}
