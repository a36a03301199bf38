import { existsSync } from 'node:fs';
import path from 'node:path';
import { checkCycles, type EditRank } from './cycles.js';
import type { ResolvedConfig } from './resolved.js';
import type { ParsedConfig } from './schema.js';
import { symlinkEscape } from '../workspace-paths.js';
import { checkManifestSemantics } from './semantics-manifests.js';

export interface SemanticProblem {
  path: PropertyKey[];
  message: string;
}

/** Checks zod cannot express: references, cycles, paths on disk, collisions. All problems at once. */
export function checkSemantics(config: ResolvedConfig, parsed: ParsedConfig, editRank?: EditRank): SemanticProblem[] {
  return [...checkReferences(config), ...checkCycles(config, editRank), ...checkPaths(config, parsed), ...checkStaging(config), ...checkManifestSemantics(config, parsed)];
}

function nodesOf(config: ResolvedConfig) {
  return [
    ...Object.values(config.services).map((s) => ({ name: s.name, section: s.role === 'resource' ? 'resources' : 'services', dependsOn: s.dependsOn })),
    ...Object.values(config.tasks).map((t) => ({ name: t.name, section: 'tasks', dependsOn: t.dependsOn })),
  ];
}

function checkReferences(config: ResolvedConfig): SemanticProblem[] {
  const problems: SemanticProblem[] = [];
  for (const name of Object.keys(config.tasks)) {
    if (config.services[name]) problems.push({ path: ['tasks', name], message: `"${name}" is both a service and a task; names must be unique` });
  }
  const known = new Set([...Object.keys(config.services), ...Object.keys(config.tasks)]);
  for (const node of nodesOf(config)) {
    node.dependsOn.forEach((dep, i) => {
      if (dep === node.name) problems.push({ path: [node.section, node.name, 'dependsOn', i], message: `"${dep}" depends on itself` });
      else if (!known.has(dep)) {
        problems.push({ path: [node.section, node.name, 'dependsOn', i], message: `unknown service or task "${dep}" (known: ${[...known].join(', ')})` });
      }
    });
  }
  return problems;
}

function escapes(root: string, target: string): boolean {
  const relative = path.relative(root, target);
  return relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
}

function checkPaths(config: ResolvedConfig, parsed: ParsedConfig): SemanticProblem[] {
  const problems: SemanticProblem[] = [];
  const inside = (fieldPath: PropertyKey[], target: string, raw: string) => {
    if (escapes(config.root, target)) {
      problems.push({ path: fieldPath, message: `"${raw}" resolves to ${target}, outside the workspace ${config.root}` });
      return false;
    }
    return true;
  };
  /** Staged, sent or written paths: a symbolic link on the way may not lead out (unless opted in). */
  const noEscape = (fieldPath: PropertyKey[], target: string, what: string) => {
    const escape = config.settings.followSymlinksOutsideWorkspace ? undefined : symlinkEscape(config.root, target, what);
    if (escape) problems.push({ path: fieldPath, message: escape });
    return escape === undefined;
  };
  const mustExist = (fieldPath: PropertyKey[], target: string, what: string) => {
    if (!existsSync(target)) problems.push({ path: fieldPath, message: `${what} not found: ${target}` });
  };
  for (const [name, s] of Object.entries(config.services)) {
    const raw = parsed.services[name];
    if (!raw) continue; // a resource: checked with the manifests
    const at = (...rest: PropertyKey[]) => ['services', name, ...rest];
    s.watch?.paths.forEach((p, i) => {
      if (raw.watch?.paths[i] === undefined) return; // added for manifests: checked with them
      if (inside(at('watch', 'paths', i), p, raw.watch!.paths[i]!)) mustExist(at('watch', 'paths', i), p, 'watch path');
    });
    if (s.compile && inside(at('compile', 'cwd'), s.compile.cwd, raw.compile!.cwd ?? '.')) {
      mustExist(at('compile', 'cwd'), s.compile.cwd, 'compile working directory');
    }
    if (s.stage) {
      // The staging folder is wiped and refilled; it must not be the workspace itself.
      if (inside(at('stage', 'dir'), s.stage.dir, raw.stage!.dir) && noEscape(at('stage', 'dir'), s.stage.dir, 'the staging folder')) {
        if (s.stage.dir === config.root) {
          problems.push({ path: at('stage', 'dir'), message: 'the staging folder cannot be the workspace root (staging replaces its whole content on every run)' });
        } else {
          const clash = stagingClash(config, s.stage.dir);
          if (clash) problems.push({ path: at('stage', 'dir'), message: `the staging folder ${s.stage.dir} ${clash}; it is replaced on every run, so it must be a folder of its own (e.g. build/staging)` });
        }
      }
      s.stage.files.forEach((f, i) => {
        if (inside(at('stage', 'files', i, 'from'), f.from, raw.stage!.files[i]!.from)) noEscape(at('stage', 'files', i, 'from'), f.from, 'the artifact');
        const dir = s.stage!.dir;
        if (f.from === dir || f.from.startsWith(dir + path.sep) || dir.startsWith(f.from + path.sep)) {
          problems.push({ path: at('stage', 'files', i, 'from'), message: `"${raw.stage!.files[i]!.from}" overlaps the staging folder ${raw.stage!.dir} (everything in it but the staged files is removed on every run)` });
        }
        if (f.to === '..' || f.to.startsWith('../') || f.to === '.') {
          problems.push({ path: at('stage', 'files', i, 'to'), message: `"${raw.stage!.files[i]!.to}" escapes the staging folder` });
        }
      });
    }
    if (s.image?.dockerfile && inside(at('image', 'dockerfile'), s.image.dockerfile, raw.image!.dockerfile!) && noEscape(at('image', 'dockerfile'), s.image.dockerfile, 'the Dockerfile')) {
      mustExist(at('image', 'dockerfile'), s.image.dockerfile, 'Dockerfile');
    }
    if (s.image?.context && inside(at('image', 'context'), s.image.context, raw.image!.context!) && noEscape(at('image', 'context'), s.image.context, 'the build context')) {
      mustExist(at('image', 'context'), s.image.context, 'build context');
    }
    if (s.live) {
      if (!s.stage || !s.image) problems.push({ path: at('live'), message: 'live update needs a stage section and an image section (the image carries the agent)' });
      s.live.sync.forEach((m, i) => {
        if (m.from === '..' || m.from.startsWith('../')) problems.push({ path: at('live', 'sync', i, 'from'), message: `"${raw.live!.sync[i]!.from}" escapes the staging folder` });
        else if (s.stage && !s.stage.files.some((f) => m.from === '.' || f.to === m.from || f.to.startsWith(`${m.from}/`))) {
          problems.push({ path: at('live', 'sync', i, 'from'), message: `"${m.from}" is not staged (stage.files targets: ${s.stage.files.map((f) => f.to).join(', ')})` });
        }
      });
    }
    if (s.image && (s.image.platforms?.length ?? 0) > 1) {
      // Several platforms are assembled in-process (no engine builder): only FROM scratch + COPY.
      if (s.image.context) problems.push({ path: at('image', 'platforms'), message: 'several platforms need a staging folder (one per platform); image.context (compatibility mode) builds in the engine, which cannot make a multi-platform image here' });
      else if (!s.image.dockerfile && s.image.base.toLowerCase() !== 'scratch') {
        problems.push({ path: at('image', 'platforms'), message: `several platforms are assembled without the engine, so image.base must be scratch (not ${s.image.base}); the engine path cannot build a multi-platform image here` });
      }
      if (s.live) problems.push({ path: at('live'), message: 'live update works with one image platform; remove live or list one platform' });
    }
    if (s.image?.layers && (s.image.dockerfile || s.image.context)) {
      problems.push({ path: at('image', 'layers'), message: 'image.layers shapes the generated image; with image.dockerfile its COPY lines are the layers (remove one of the two)' });
    }
    if (s.image && !s.stage && !s.image.context) {
      problems.push({ path: at('image'), message: 'an image needs a stage section (its build context) or image.context' });
    }
  }
  for (const [name, t] of Object.entries(config.tasks)) {
    if (inside(['tasks', name, 'cwd'], t.cwd, parsed.tasks[name]!.cwd ?? '.')) mustExist(['tasks', name, 'cwd'], t.cwd, 'task working directory');
  }
  return problems;
}

/** Two files staged to the same target, or two services sharing a staging folder, would overwrite each other. */
function checkStaging(config: ResolvedConfig): SemanticProblem[] {
  const problems: SemanticProblem[] = [];
  const dirs = new Map<string, string>();
  for (const [name, s] of Object.entries(config.services)) {
    if (!s.stage) continue;
    const owner = dirs.get(s.stage.dir);
    if (owner) problems.push({ path: ['services', name, 'stage', 'dir'], message: `staging folder ${s.stage.dir} is also used by service "${owner}"` });
    else dirs.set(s.stage.dir, name);
    const targets = new Map<string, number>();
    s.stage.files.forEach((f, i) => {
      const first = targets.get(f.to);
      if (first !== undefined) {
        problems.push({ path: ['services', name, 'stage', 'files', i, 'to'], message: `duplicate staging target "${f.to}" (also files[${first}])` });
      } else targets.set(f.to, i);
    });
  }
  return problems;
}

const within = (parent: string, child: string) => child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);

/**
 * What the staging folder would overwrite or feed back into: it must not be, contain or lie
 * inside a watched path, a compile input, an artifact source, .git or .tightloop.
 */
function stagingClash(config: ResolvedConfig, dir: string): string | undefined {
  // [path, what, may the staging folder lie inside it]: the watcher never enters a staging
  // folder, so one inside a watched folder is fine; being or containing a watched path is not.
  const guarded: [string, string, boolean?][] = [
    [path.join(config.root, '.git'), '.git'],
    [path.join(config.root, '.tightloop'), ".tightloop (Tightloop's own state)"],
    [config.file, 'the config file'],
  ];
  for (const s of Object.values(config.services)) {
    for (const p of s.watch?.paths ?? []) guarded.push([p, `watch path ${path.relative(config.root, p) || '.'} of service "${s.name}"`, true]);
    for (const glob of s.compile?.inputs ?? []) {
      const base = path.resolve(config.root, glob.split(/[*?[{]/)[0]!.replace(/\/[^/]*$/, '') || '.');
      guarded.push([base, `compile input ${glob} of service "${s.name}"`]);
    }
    for (const f of s.stage?.files ?? []) guarded.push([f.from, `artifact ${path.relative(config.root, f.from)} of service "${s.name}"`]);
  }
  // .tightloop/stage/<name> is where generated configs stage (nothing else lives there).
  const stageHome = path.join(config.root, '.tightloop', 'stage');
  if (dir !== stageHome && within(stageHome, dir)) guarded.splice(1, 1);
  for (const [target, what, insideAllowed] of guarded) {
    if (target === config.root) continue; // the workspace itself holds everything; only "is the root" matters, checked above
    if (dir === target) return `is ${what}`;
    if (within(dir, target)) return `contains ${what}`;
    if (!insideAllowed && within(target, dir)) return `lies inside ${what}`;
  }
  return undefined;
}
