import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { globSync } from 'tinyglobby';
import type { ResolvedManifests } from '../../config/resolved.js';
import type { RenderReuse } from './source.js';

/**
 * The last output of each service's render command, kept while the engine runs, so a save that
 * touches none of the render's declared inputs (`render.watch`) does not run `kustomize build` or
 * `helm template` again — a process start costs far more than the whole no-op budget. Without
 * `render.watch` the command's inputs are unknown, and it runs every time.
 */

type RenderSpec = NonNullable<ResolvedManifests['render']>;

export class RenderCache {
  private readonly outputs = new Map<string, { key: string; text: string }>();

  /** What one run uses: with `force`, never an old output (but the new one is kept). */
  reuse(service: string, force: boolean): RenderReuse {
    let key: string | undefined;
    return {
      get: async (spec) => {
        if (spec.watch.length === 0) return undefined;
        // Keyed before the command runs: a file changed while it renders makes the next key differ.
        key = renderKey(spec);
        const kept = this.outputs.get(service);
        return !force && kept?.key === key ? kept.text : undefined;
      },
      put: (_spec, text) => {
        if (key) this.outputs.set(service, { key, text });
      },
    };
  }
}

/** The command, its folder and environment, and the bytes of every file it is declared to read (read synchronously: see manifestFiles). */
function renderKey(spec: RenderSpec): string {
  const hash = createHash('sha256').update(JSON.stringify([spec.command, spec.cwd, spec.env])).update('\0');
  for (const p of spec.watch) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(p).isDirectory();
    } catch {
      hash.update(`${p}\0missing\n`);
      continue;
    }
    const files = isDirectory ? globSync(['**/*'], { cwd: p, onlyFiles: true, dot: true, ignore: ['**/.git/**', '**/.tightloop/**'] }).sort().map((f) => path.join(p, f)) : [p];
    for (const file of files) hash.update(`${file}\0`).update(readFileSync(file)).update('\n');
  }
  return hash.digest('hex');
}
