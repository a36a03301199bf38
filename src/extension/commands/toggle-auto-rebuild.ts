import * as vscode from 'vscode';
import type { Tightloop } from '../tightloop.js';
import { setAutoRebuild } from '../settings.js';
import type { TightloopCommand } from './index.js';
import { l10n } from '../l10n.js';

export const toggleAutoRebuild: TightloopCommand = {
  id: 'tightloop.toggleAutoRebuild',
  async run(tl: Tightloop) {
    const on = !tl.settings.autoRebuildOnSave;
    await setAutoRebuild(on);
    void vscode.window.setStatusBarMessage(on ? l10n.t('Tightloop: auto-rebuild on save on') : l10n.t('Tightloop: auto-rebuild on save off'), 3000);
    return on;
  },
};
