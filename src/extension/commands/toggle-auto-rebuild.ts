import * as vscode from 'vscode';
import type { Tightloop } from '../ctx.js';
import { setAutoRebuild } from '../settings.js';
import type { TightloopCommand } from './index.js';

export const toggleAutoRebuild: TightloopCommand = {
  id: 'tightloop.toggleAutoRebuild',
  async run(tl: Tightloop) {
    const on = !tl.settings.autoRebuildOnSave;
    await setAutoRebuild(on);
    void vscode.window.setStatusBarMessage(`Tightloop: auto-rebuild on save ${on ? 'on' : 'off'}`, 3000);
    return on;
  },
};
