import type { Tightloop } from '../tightloop.js';
import { UserError } from '../errors.js';
import { l10n } from '../l10n.js';
import { nameArg } from './args.js';
import type { TightloopCommand } from './index.js';

/** The view's mode action: this service only collects "changes pending" until this window reloads its config. */
export const setTriggerManual: TightloopCommand = {
  id: 'tightloop.setTriggerManual',
  async run(tl: Tightloop, arg?: unknown) {
    const name = nameArg(arg);
    if (!name) throw new UserError(l10n.t('Pick a service in the Tightloop view to change its trigger.'));
    const engine = await tl.engineReady();
    engine.setTrigger(name, 'manual');
    tl.output.info(`[${name}] trigger: manual (until tightloop.yaml is reloaded)`);
    return 'manual';
  },
};
