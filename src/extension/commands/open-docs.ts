import * as vscode from 'vscode';
import type { Tightloop } from '../tightloop.js';
import type { TightloopCommand } from './index.js';

/** The README shipped in the extension, rendered: works offline and matches the installed version. */
export const openDocs: TightloopCommand = {
  id: 'tightloop.openDocs',
  async run(tl: Tightloop) {
    const readme = vscode.Uri.joinPath(tl.extensionUri, 'README.md');
    try {
      await vscode.commands.executeCommand('markdown.showPreview', readme);
    } catch {
      await vscode.window.showTextDocument(readme, { preview: true });
    }
    return readme.fsPath;
  },
};
