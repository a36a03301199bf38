import type { Tightloop } from '../ctx.js';
import type { TightloopCommand } from './index.js';

export const showLogs: TightloopCommand = {
  id: 'tightloop.showLogs',
  run(tl: Tightloop) {
    tl.output.show();
  },
};
