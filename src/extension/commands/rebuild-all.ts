import type { Tightloop } from '../tightloop.js';
import type { TightloopCommand } from './index.js';

export const rebuildAll: TightloopCommand = {
  id: 'tightloop.rebuildAll',
  async run(tl: Tightloop) {
    await tl.engineReady();
    return tl.rebuild(tl.model.services().map((s) => s.name));
  },
};
