import type { Tightloop } from '../tightloop.js';
import type { TightloopCommand } from './index.js';

/** Also the status-bar click: the active file's services, else the status-bar services, else all. */
export const rebuildCurrentFile: TightloopCommand = {
  id: 'tightloop.rebuildCurrentFile',
  async run(tl: Tightloop) {
    const { names, because } = await tl.currentTargets();
    tl.output.info(`rebuilding ${names.join(', ')} (${because})`);
    return tl.rebuild(names);
  },
};
