import type { Tightloop } from '../tightloop.js';
import type { TightloopCommand } from './index.js';

export const showLogs: TightloopCommand = {
  id: 'tightloop.showLogs',
  run(tl: Tightloop) {
    tl.output.show();
  },
};
