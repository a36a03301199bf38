import * as vscode from 'vscode';
import type { Tightloop } from '../tightloop.js';
import { UserError } from '../errors.js';
import type { TightloopCommand } from './index.js';
import { l10n } from '../l10n.js';

/** Opens tightloop.yaml (allowed in Restricted Mode: reading a file runs nothing). */
export const openConfig: TightloopCommand = {
  id: 'tightloop.openConfig',
  async run(tl: Tightloop) {
    const file = tl.configFile();
    if (!file) throw new UserError(l10n.t('No tightloop.yaml in this workspace.'), [{ title: l10n.t('Create Config'), command: 'tightloop.createConfig' }]);
    const editor = await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: false });
    return editor.document.uri.fsPath;
  },
};
