import * as vscode from 'vscode';

export const SECTION = 'tightloop';

export interface Settings {
  autoRebuildOnSave: boolean;
  /** Overrides tightloop.yaml's settings.quietWindowMs when set. */
  quietWindowMs: number | undefined;
  historyLength: number;
  statusBarServices: string[];
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration(SECTION);
  const quiet = c.get<number | null>('quietWindowMs', null);
  return {
    autoRebuildOnSave: c.get<boolean>('autoRebuildOnSave', true),
    quietWindowMs: typeof quiet === 'number' && quiet >= 0 ? Math.min(5000, Math.round(quiet)) : undefined,
    historyLength: Math.max(5, Math.min(500, Math.round(c.get<number>('historyLength', 50)))),
    statusBarServices: c.get<string[]>('statusBar.services', []).filter((s) => typeof s === 'string'),
  };
}

/** Writes where the user would expect: the workspace when one is open, else user settings. */
export async function setAutoRebuild(on: boolean): Promise<void> {
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await vscode.workspace.getConfiguration(SECTION).update('autoRebuildOnSave', on, target);
}

export function affects(event: vscode.ConfigurationChangeEvent, key: keyof Settings): boolean {
  const names: Record<keyof Settings, string> = {
    autoRebuildOnSave: 'autoRebuildOnSave',
    quietWindowMs: 'quietWindowMs',
    historyLength: 'historyLength',
    statusBarServices: 'statusBar.services',
  };
  return event.affectsConfiguration(`${SECTION}.${names[key]}`);
}
