import path from 'node:path';

export interface TargetInput {
  /** Absolute path of the active editor's file, if it is a file on disk. */
  activeFile?: string;
  servicesForFile(file: string): string[];
  /** The `tightloop.statusBar.services` setting. */
  configured: string[];
  services: string[];
}

/**
 * What a status-bar click or "Rebuild Service of Current File" rebuilds: the services that watch
 * the active file; else the services chosen for the status bar; else every service.
 */
export function rebuildTargets(input: TargetInput): { names: string[]; because: string } {
  if (input.activeFile) {
    const owners = input.servicesForFile(input.activeFile);
    if (owners.length > 0) return { names: owners, because: `${path.basename(input.activeFile)} belongs to ${owners.join(', ')}` };
  }
  const chosen = input.configured.filter((name) => input.services.includes(name));
  if (chosen.length > 0) return { names: chosen, because: 'the status-bar services setting' };
  return { names: input.services, because: input.activeFile ? `${path.basename(input.activeFile)} belongs to no service` : 'no file is active' };
}

export interface SavedDocument {
  scheme: string;
  fsPath: string;
}

/**
 * Which saved documents go to `engine.notifySaved`: files on disk only, and never the config
 * itself (saving tightloop.yaml reloads the engine instead of rebuilding a service).
 */
export function filesToNotify(saved: SavedDocument[], configFile: string | undefined): string[] {
  const files = new Set<string>();
  for (const doc of saved) {
    if (doc.scheme !== 'file') continue;
    const file = path.resolve(doc.fsPath);
    if (configFile && file === path.resolve(configFile)) continue;
    files.add(file);
  }
  return [...files];
}

/** True for any file named tightloop.yaml (live validation applies to every one). */
export function isConfigFile(fsPath: string): boolean {
  return path.basename(fsPath) === 'tightloop.yaml';
}

/**
 * Picks the config among those found: the shallowest (a root tightloop.yaml wins), ties broken
 * alphabetically so the choice is stable.
 */
export function chooseConfig(found: string[]): string | undefined {
  return [...found].sort((a, b) => depth(a) - depth(b) || a.localeCompare(b))[0];
}

function depth(file: string): number {
  return path.resolve(file).split(path.sep).length;
}
