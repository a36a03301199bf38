import * as vscode from 'vscode';
import type { Tightloop } from '../ctx.js';
import { UserError } from '../errors.js';
import type { TightloopCommand } from './index.js';

/** Opens tightloop.yaml (allowed in Restricted Mode: reading a file runs nothing). */
export const openConfig: TightloopCommand = {
  id: 'tightloop.openConfig',
  async run(tl: Tightloop) {
    const file = tl.configFile();
    if (!file) throw new UserError('No tightloop.yaml in this workspace.', [{ title: 'Create Config', command: 'tightloop.createConfig' }]);
    const editor = await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: false });
    return editor.document.uri.fsPath;
  },
};
