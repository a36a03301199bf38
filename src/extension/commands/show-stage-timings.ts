import type { Tightloop } from '../tightloop.js';
import { nameArg } from './args.js';
import type { TightloopCommand } from './index.js';

/** Opens (or reveals) the panel; works in every state: the panel explains what is missing. */
export const showStageTimings: TightloopCommand = {
  id: 'tightloop.showStageTimings',
  run(tl: Tightloop, service?: unknown) {
    tl.showPanel(nameArg(service));
  },
};
