import * as vscode from 'vscode';
import type { Tightloop } from '../tightloop.js';
import type { TightloopCommand } from './index.js';

/**
 * Deletes what Tightloop applied from manifests (all services and resources, or the ones picked),
 * dependents first, after a confirmation; the engine refuses contexts outside allowContexts.
 */
export const down: TightloopCommand = {
  id: 'tightloop.down',
  async run(tl: Tightloop, ...args: unknown[]) {
    const engine = await tl.engineReady();
    const candidates = Object.values(engine.config.services).filter((s) => s.deploy?.manifests).map((s) => s.name);
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage('Tightloop: no service or resource deploys from manifests; nothing to delete.');
      return [];
    }
    let names = Array.isArray(args[0]) ? (args[0] as string[]) : undefined;
    if (!names) {
      const all = '$(trash) Everything Tightloop applied';
      const picked = await vscode.window.showQuickPick([all, ...candidates], { placeHolder: 'Delete what Tightloop applied for…' });
      if (!picked) return undefined;
      names = picked === all ? candidates : [picked];
      const ok = await vscode.window.showWarningMessage(`Delete the objects Tightloop applied for ${names.join(', ')}?`, { modal: true }, 'Delete');
      if (ok !== 'Delete') return undefined;
    }
    const results = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Tightloop: deleting ${names.join(', ')}…`, cancellable: true },
      (_progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort(new Error('cancelled')));
        return engine.down(names, controller.signal);
      },
    );
    for (const r of results) tl.output.info(`down ${r.service}: ${r.deleted.length ? `deleted ${r.deleted.join(', ')}` : 'nothing to delete'}${r.leftAlone.length ? `; left alone (not applied by Tightloop): ${r.leftAlone.join(', ')}` : ''}`);
    const count = results.reduce((n, r) => n + r.deleted.length, 0);
    void vscode.window.showInformationMessage(`Tightloop: deleted ${count} object${count === 1 ? '' : 's'} for ${names.join(', ')}.`);
    return results;
  },
};
