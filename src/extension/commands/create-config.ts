import * as vscode from 'vscode';
import type { Tightloop } from '../tightloop.js';
import { Cancelled, UserError } from '../errors.js';
import { generateConfig, type FoundFile } from '../model/config-generator.js';
import type { TightloopCommand } from './index.js';
import { l10n } from '../l10n.js';

const PROJECT_FILES = '**/{Cargo.toml,go.mod,Dockerfile}';
const MANIFESTS = '**/{k8s,kubernetes,deploy,deployment,manifests,kube,.k8s}/**/*.{yaml,yml}';
const EXCLUDE = '{**/node_modules/**,**/.git/**,**/target/**,**/vendor/**,**/.tightloop/**}';
const MAX_FILE_BYTES = 256 * 1024;

/**
 * Writes a starter tightloop.yaml from Cargo.toml / go.mod / Dockerfile / Kubernetes manifests
 * found in the workspace folder, then opens it. Writing a file executes nothing, so this also
 * works in Restricted Mode.
 */
export const createConfig: TightloopCommand = {
  id: 'tightloop.createConfig',
  async run(tl: Tightloop) {
    const folder = await chooseFolder();
    const target = vscode.Uri.joinPath(folder.uri, 'tightloop.yaml');
    if (await exists(target)) {
      await vscode.window.showTextDocument(target);
      throw new UserError(l10n.t('{0} already exists; opened it.', vscode.workspace.asRelativePath(target)));
    }
    const found = await collect(folder);
    const generated = generateConfig(found);
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(generated.yaml));
    for (const note of generated.notes) tl.output.info(`create config: ${note}`);
    await vscode.window.showTextDocument(target, { preview: false });
    void vscode.window.showInformationMessage(
      l10n.t('Tightloop: wrote tightloop.yaml with {0} service(s): {1}. Review it, then save to start.', generated.services.length, generated.services.join(', ')),
      l10n.t('Show Details'),
    ).then((choice) => choice && tl.output.show());
    await tl.discover();
    return target.fsPath;
  },
};

async function chooseFolder(): Promise<vscode.WorkspaceFolder> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) throw new UserError(l10n.t('Open a folder first: tightloop.yaml lives at the root of your project.'));
  if (folders.length === 1) return folders[0]!;
  const picked = await vscode.window.showWorkspaceFolderPick({ placeHolder: l10n.t('Folder for tightloop.yaml') });
  if (!picked) throw new Cancelled();
  return picked;
}

async function collect(folder: vscode.WorkspaceFolder): Promise<FoundFile[]> {
  const uris = [
    ...(await vscode.workspace.findFiles(new vscode.RelativePattern(folder, PROJECT_FILES), EXCLUDE, 200)),
    ...(await vscode.workspace.findFiles(new vscode.RelativePattern(folder, MANIFESTS), EXCLUDE, 200)),
  ];
  const files: FoundFile[] = [];
  for (const uri of uris) {
    const stat = await vscode.workspace.fs.stat(uri);
    if (stat.size > MAX_FILE_BYTES) continue;
    const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    files.push({ path: vscode.workspace.asRelativePath(uri, false).replace(/\\/g, '/'), text });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
