import picomatch from 'picomatch';
import type { ContextEntry } from '../context/build-context.js';
import type { LayerEntry, LayerRecipe } from './layers.js';

export interface DeclaredLayer {
  name: string;
  /** Globs relative to the staging folder. */
  files: string[];
  key?: string[];
}

/**
 * image.layers as recipes, in order: each holds the staged files (and symlinks) its globs match
 * that no earlier layer took, at the same path in the image; then `rest` (the per-entry layers of
 * the generated image) without the files already taken, dropping any left with no file at all.
 */
export function declaredRecipes(layers: DeclaredLayer[], entries: ContextEntry[], rest: LayerRecipe[]): LayerRecipe[] {
  const taken = new Set<string>();
  const recipes: LayerRecipe[] = [];
  for (const layer of layers) {
    const matches = picomatch(layer.files, { dot: true });
    const chosen = entries.filter((e) => e.type !== 'dir' && !taken.has(e.path) && matches(e.path));
    for (const e of chosen) taken.add(e.path);
    recipes.push({ createdBy: `LAYER ${layer.name}: ${layer.files.join(' ')}`, declared: { name: layer.name, ...(layer.key && { key: layer.key }) }, entries: withParents(chosen.map(toLayerEntry)) });
  }
  for (const recipe of rest) {
    const entriesLeft = recipe.entries.filter((e) => !taken.has(e.name));
    if (!entriesLeft.some((e) => e.type !== 'dir')) continue;
    recipes.push({ ...recipe, entries: entriesLeft });
  }
  return recipes;
}

function toLayerEntry(entry: ContextEntry): LayerEntry {
  return {
    name: entry.path,
    type: entry.type,
    mode: entry.mode & 0o7777,
    uid: 0,
    gid: 0,
    size: entry.type === 'file' ? entry.size : 0,
    abs: entry.abs,
    linkname: entry.linkname,
    sha256: entry.sha256,
  };
}

const DIR_MODE = 0o755;

/** Parent folders before their children, in plain code-unit order (as the other layers are made). */
function withParents(entries: LayerEntry[]): LayerEntry[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const entry of entries) {
    for (let dir = parentOf(entry.name); dir && !byName.has(dir); dir = parentOf(dir)) byName.set(dir, { name: dir, type: 'dir', mode: DIR_MODE, uid: 0, gid: 0, size: 0 });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function parentOf(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? '' : name.slice(0, slash);
}
