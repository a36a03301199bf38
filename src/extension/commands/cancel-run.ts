import * as vscode from 'vscode';
import type { Tightloop } from '../tightloop.js';
import { nameArg } from './args.js';
import type { TightloopCommand } from './index.js';
import { l10n } from '../l10n.js';

/** Cancels the named service's run, or everything running or queued. */
export const cancelRun: TightloopCommand = {
  id: 'tightloop.cancelRun',
  async run(tl: Tightloop, arg?: unknown) {
    const engine = await tl.engineReady();
    const busy = tl.model.all().filter((e) => e.live || e.queued);
    const service = nameArg(arg);
    if (service) {
      engine.cancel(service);
      return [service];
    }
    if (busy.length === 0) {
      void vscode.window.setStatusBarMessage(l10n.t('Tightloop: nothing is running'), 3000);
      return [];
    }
    engine.cancel();
    return busy.map((e) => e.name);
  },
};
