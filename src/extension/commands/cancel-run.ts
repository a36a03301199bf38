import * as vscode from 'vscode';
import type { Tightloop } from '../ctx.js';
import type { TightloopCommand } from './index.js';

/** Cancels the named service's run, or everything running or queued. */
export const cancelRun: TightloopCommand = {
  id: 'tightloop.cancelRun',
  async run(tl: Tightloop, service?: unknown) {
    const engine = await tl.engineReady();
    const busy = tl.model.all().filter((e) => e.live || e.queued);
    if (typeof service === 'string') {
      engine.cancel(service);
      return [service];
    }
    if (busy.length === 0) {
      void vscode.window.setStatusBarMessage('Tightloop: nothing is running', 3000);
      return [];
    }
    engine.cancel();
    return busy.map((e) => e.name);
  },
};
