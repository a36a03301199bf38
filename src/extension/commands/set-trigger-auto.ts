import type { Tightloop } from '../tightloop.js';
import { UserError } from '../errors.js';
import { l10n } from '../l10n.js';
import { nameArg } from './args.js';
import type { TightloopCommand } from './index.js';

/** The view's mode action: rebuild this service on change again; changes pending run at once. */
export const setTriggerAuto: TightloopCommand = {
  id: 'tightloop.setTriggerAuto',
  async run(tl: Tightloop, arg?: unknown) {
    const name = nameArg(arg);
    if (!name) throw new UserError(l10n.t('Pick a service in the Tightloop view to change its trigger.'));
    const engine = await tl.engineReady();
    engine.setTrigger(name, 'auto');
    tl.output.info(`[${name}] trigger: auto (until tightloop.yaml is reloaded)`);
    return 'auto';
  },
};
