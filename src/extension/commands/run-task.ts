import * as vscode from 'vscode';
import { formatAgo, formatDuration } from '../../shared/format.js';
import type { Tightloop } from '../tightloop.js';
import { Cancelled, UserError } from '../errors.js';
import { nameArg } from './args.js';
import type { TightloopCommand } from './index.js';
import { l10n } from '../l10n.js';

/** Run Task…: the config's `tasks` (with their dependencies first). */
export const runTask: TightloopCommand = {
  id: 'tightloop.runTask',
  async run(tl: Tightloop, name?: unknown) {
    await tl.engineReady();
    const tasks = tl.model.tasks();
    const given = nameArg(name);
    if (given) return tl.rebuild([given]);
    if (tasks.length === 0) throw new UserError(l10n.t('tightloop.yaml defines no tasks.'), [{ title: l10n.t('Open Config'), command: 'tightloop.openConfig' }]);
    const now = Date.now();
    const picked = await vscode.window.showQuickPick(
      tasks.map((t) => ({
        label: t.name,
        description: t.live ? l10n.t('running') : t.last ? l10n.t('{0} in {1} · {2}', t.last.status, formatDuration(t.last.durationMs), formatAgo(t.last.startedAt + t.last.durationMs, now)) : l10n.t('not run yet'),
        name: t.name,
      })),
      { title: l10n.t('Tightloop: Run Task'), placeHolder: l10n.t('Task to run') },
    );
    if (!picked) throw new Cancelled();
    return tl.rebuild([picked.name]);
  },
};
