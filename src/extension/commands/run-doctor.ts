import * as vscode from 'vscode';
import type { Tightloop } from '../tightloop.js';
import type { TightloopCommand } from './index.js';
import { l10n } from '../l10n.js';

/** Checks config, tools, Docker, registry and cluster; the report goes to the log. */
export const runDoctor: TightloopCommand = {
  id: 'tightloop.runDoctor',
  async run(tl: Tightloop) {
    const engine = await tl.engineReady();
    const results = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: l10n.t('Tightloop: running doctor…'), cancellable: true },
      (_progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort(new Error('cancelled')));
        return engine.doctor(AbortSignal.any([controller.signal, AbortSignal.timeout(60_000)]));
      },
    );
    tl.output.info('doctor:');
    for (const r of results) {
      const line = `  ${r.status === 'ok' ? '✓' : r.status === 'warn' ? '!' : '✗'} ${r.check}${r.service ? ` (${r.service})` : ''}: ${r.message}`;
      if (r.status === 'fail') tl.output.error(line);
      else if (r.status === 'warn') tl.output.warn(line);
      else tl.output.info(line);
    }
    const failed = results.filter((r) => r.status === 'fail');
    const warned = results.filter((r) => r.status === 'warn');
    const summary = failed.length
      ? l10n.t('{0} check(s) failed: {1}', failed.length, failed.map((r) => r.check).join(', '))
      : warned.length
        ? l10n.t('all checks passed, {0} warning(s)', warned.length)
        : l10n.t('all {0} checks passed', results.length);
    const show = failed.length ? vscode.window.showErrorMessage : warned.length ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    void show(l10n.t('Tightloop doctor: {0}', summary), l10n.t('Show Logs')).then((choice) => choice && tl.output.show());
    return results;
  },
};
