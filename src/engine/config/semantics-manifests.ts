import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ResolvedConfig } from './resolved.js';
import type { ParsedConfig } from './schema.js';
import type { SemanticProblem } from './semantics.js';

/** Checks for manifests and resources: something to apply, files that exist, unique names. */
export function checkManifestSemantics(config: ResolvedConfig, parsed: ParsedConfig): SemanticProblem[] {
  const problems: SemanticProblem[] = [];
  for (const name of Object.keys(parsed.resources)) {
    if (parsed.services[name]) problems.push({ path: ['resources', name], message: `"${name}" is both a service and a resource; names must be unique` });
    if (parsed.tasks[name]) problems.push({ path: ['resources', name], message: `"${name}" is both a resource and a task; names must be unique` });
  }
  for (const [name, s] of Object.entries(config.services)) {
    const d = s.deploy;
    if (!d) continue;
    const section = s.role === 'resource' ? 'resources' : 'services';
    const at = (...rest: PropertyKey[]) => (s.role === 'resource' ? [section, name, ...rest] : [section, name, 'deploy', ...rest]);
    if (!d.workload && !d.manifests) {
      problems.push({ path: at(), message: s.role === 'resource' ? 'a resource needs manifests or render' : 'deploy needs a workload, manifests or render' });
      continue;
    }
    const m = d.manifests;
    if (!m) continue;
    const raw = s.role === 'resource' ? parsed.resources[name]?.manifests : parsed.services[name]?.deploy?.manifests;
    m.paths.forEach((p, i) => {
      const relative = path.relative(config.root, p);
      if (relative.startsWith('..') || path.isAbsolute(relative)) {
        problems.push({ path: at('manifests', i), message: `"${raw?.[i] ?? p}" resolves to ${p}, outside the workspace ${config.root}` });
      } else if (!/[*?[\]{}]/.test(p) && !existsSync(p)) {
        problems.push({ path: at('manifests', i), message: `manifest file or folder not found: ${p}` });
      }
    });
    if (m.render && !existsSync(m.render.cwd)) problems.push({ path: at('render', 'cwd'), message: `render working directory not found: ${m.render.cwd}` });
  }
  return problems;
}
