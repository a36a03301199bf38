import * as vscode from 'vscode';
import { formatAgo, formatMs } from '../../shared/format.js';
import type { Tightloop } from '../ctx.js';
import { Cancelled, UserError } from '../errors.js';
import { nameArg } from './args.js';
import type { TightloopCommand } from './index.js';

/** Run Task…: the config's `tasks` (with their dependencies first). */
export const runTask: TightloopCommand = {
  id: 'tightloop.runTask',
  async run(tl: Tightloop, name?: unknown) {
    await tl.engineReady();
    const tasks = tl.model.tasks();
    const given = nameArg(name);
    if (given) return tl.rebuild([given]);
    if (tasks.length === 0) throw new UserError('tightloop.yaml defines no tasks.', [{ title: 'Open Config', command: 'tightloop.openConfig' }]);
    const now = Date.now();
    const picked = await vscode.window.showQuickPick(
      tasks.map((t) => ({
        label: t.name,
        description: t.live ? 'running' : t.last ? `${t.last.status} in ${formatMs(t.last.durationMs)} · ${formatAgo(t.last.startedAt + t.last.durationMs, now)}` : 'not run yet',
        name: t.name,
      })),
      { title: 'Tightloop: Run Task', placeHolder: 'Task to run' },
    );
    if (!picked) throw new Cancelled();
    return tl.rebuild([picked.name]);
  },
};
