import * as vscode from 'vscode';
import { registerCommands } from './commands/index.js';
import { Tightloop } from './ctx.js';

let instance: Tightloop | undefined;

/** What `activate` returns: enough for tests in the extension host to see what the UI shows. */
export interface TightloopApi {
  snapshot: Tightloop['snapshot'];
  counts: Tightloop['counts'];
  settled(): Promise<void>;
  whenIdle(): Promise<void>;
}

/** Cheap by design: no Docker or cluster call happens until a run needs one. */
export function activate(context: vscode.ExtensionContext): TightloopApi {
  const tl = new Tightloop(context);
  instance = tl;
  context.subscriptions.push(tl, ...registerCommands(tl));
  void tl.discover();
  return {
    snapshot: () => tl.snapshot(),
    counts: () => tl.counts(),
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
