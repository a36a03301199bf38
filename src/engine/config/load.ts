import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { ConfigIssue } from '../types.js';
import { parseDuration, parseSize } from './units.js';
import { commandEnv, commandReference, isCommandField } from './command-env.js';
import { capIssues, plainZodMessage, checkBytes, checkDocument, checkTextSize, deepFlowNesting, MAX_DEPTH, MAX_ISSUES, pathAt } from './guard.js';
import { unknownFieldMessage } from './field-hints.js';
import { PositionFinder } from './positions.js';
import type { ResolvedConfig, ResolvedService, ResolvedTask } from './resolved.js';
import { ConfigSchema, DEFAULT_ALLOW_CONTEXTS, type ParsedConfig } from './schema.js';
import { checkSemantics } from './semantics.js';
import { resolveManifests, resolveResource, withManifestWatch } from './resolve-manifests.js';

export const CONFIG_FILE_NAME = 'tightloop.yaml';

/** Thrown by loadConfig; `message` is the formatted list, one `file:line:col: field: message` per line. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** Load, validate and resolve a config file; throws ConfigError listing every problem at once. */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, options: ParseOptions = {}): Promise<ResolvedConfig> {
  const absolute = path.resolve(file);
  let bytes: Buffer;
  try {
    bytes = await readFile(absolute);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigError([{ file: absolute, line: 0, column: 0, path: '', message: reason }]);
  }
  const { problem, text } = checkBytes(bytes);
  if (problem) throw new ConfigError([{ file: absolute, path: '', ...problem }]);
  const result = parseConfigText(text!, absolute, env, options);
  if (!result.config) throw new ConfigError(result.issues);
  return result.config;
}

export interface ParseOptions {
  /** 1-based lines the user edited lately, most recent first (an editor knows; it orders hints). */
  recentEdits?: number[];
}

/** Pure variant for editors: never throws, returns every issue with its position. */
export function parseConfigText(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  options: ParseOptions = {},
): { config?: ResolvedConfig; issues: ConfigIssue[] } {
  const tooBig = checkTextSize(text);
  if (tooBig) return { issues: [{ file, line: 1, column: 1, path: '', message: tooBig }] };
  const lines = new LineCounter();
  const tooDeep = deepFlowNesting(text);
  if (tooDeep !== undefined) {
    lines.addNewLine(0);
    for (let i = text.indexOf('\n'); i !== -1 && i < tooDeep; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
    const { line, col } = lines.linePos(tooDeep);
    return { issues: [{ file, line, column: col, path: '', message: `YAML: nested more than ${MAX_DEPTH} levels deep` }] };
  }
  // Duplicate keys are reported by checkDocument, which can name the key.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  const where = new PositionFinder(doc, lines);
  const issueAt = (fieldPath: readonly PropertyKey[], message: string, key?: string): ConfigIssue => ({
    file,
    ...where.locate(fieldPath, key),
    path: [...fieldPath, ...(key === undefined ? [] : [key])].map(String).join('.'),
    message,
  });

  if (doc.errors.length > 0) return { issues: yamlIssues(doc, file, where) };
  const guarded = checkDocument(doc, lines).map((p) => ({
    file,
    ...where.at(p.offset, p.end === undefined ? undefined : [p.offset, p.end]),
    path: p.path.map(String).join('.'),
    message: p.message,
  }));
  if (guarded.length > 0) return { issues: finish(guarded, file) };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: -1 }); // aliases were bounded by checkDocument
  } catch (error) {
    return { issues: [{ file, line: 1, column: 1, path: '', message: `YAML: ${(error as Error).message.split('\n')[0]}` }] };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { issues: [{ file, line: 1, column: 1, path: '', message: 'expected a mapping with version: 1 and services' }] };
  }
  const issues: ConfigIssue[] = [];
  // Values a command receives as TIGHTLOOP_ENV_* (a `:-default` used in a command lives only here).
  const commandValues: Record<string, string> = {};
  const interpolated = interpolateEnv(raw, [], env, (p, m) => issues.push(issueAt(p, m)), commandValues);

  const parsed = ConfigSchema.safeParse(interpolated);
  if (!parsed.success) {
    for (const zodIssue of parsed.error.issues) {
      if (zodIssue.code === 'unrecognized_keys') {
        for (const key of zodIssue.keys.slice(0, MAX_ISSUES + 1)) issues.push(issueAt(zodIssue.path, unknownFieldMessage(zodIssue.path, key), key));
        const unlisted = zodIssue.keys.length - (MAX_ISSUES + 1);
        if (unlisted > 0) issues.push(issueAt(zodIssue.path, `and ${unlisted} more unknown fields`));
      } else {
        issues.push(issueAt(zodIssue.path, plainZodMessage(zodIssue.message)));
      }
    }
    return { issues: finish(issues, file) };
  }
  if (issues.length > 0) return { issues: finish(issues, file) };

  const root = path.dirname(file);
  const config = resolve(parsed.data, file, root, { ...env, ...commandValues });
  const editRank = (fieldPath: readonly PropertyKey[]) => {
    const rank = options.recentEdits?.indexOf(where.locate(fieldPath).line) ?? -1;
    return rank < 0 ? undefined : rank;
  };
  for (const problem of checkSemantics(config, parsed.data, editRank)) issues.push(issueAt(problem.path, problem.message));
  return issues.length > 0 ? { issues: finish(issues, file) } : { config, issues: [] };
}

/** Sorted by position, at most MAX_ISSUES of them plus a line counting the rest. */
function finish(issues: ConfigIssue[], file: string): ConfigIssue[] {
  issues.sort((a, b) => a.line - b.line || a.column - b.column);
  const last = issues[Math.min(issues.length, MAX_ISSUES) - 1];
  return capIssues(issues, (hidden) => ({ file, line: last?.line ?? 1, column: last?.column ?? 1, path: '', message: `${hidden} more problem(s) not listed` }));
}

/**
 * YAML syntax errors, each with the field it is in. Stack exhaustion on deep nesting is reported
 * by the parser at every level: one issue, at the outermost, says what it is.
 */
function yamlIssues(doc: Document, file: string, where: PositionFinder): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  let exhausted = false;
  const sorted = [...doc.errors].sort((a, b) => a.pos[0] - b.pos[0]);
  for (const e of sorted) {
    if (e.code === 'RESOURCE_EXHAUSTION') {
      if (exhausted) continue;
      exhausted = true;
    }
    const message = e.code === 'RESOURCE_EXHAUSTION' ? `nested too deeply to parse (more than ${MAX_DEPTH} levels are refused)` : e.message.split('\n')[0];
    issues.push({ file, ...where.at(e.pos[0], [e.pos[0], e.pos[1]]), path: pathAt(doc, e.pos[0]).map(String).join('.'), message: `YAML: ${message}` });
  }
  return finish(issues, file);
}

/**
 * Expands `${env:NAME}` and `${env:NAME:-default}` (default when unset or empty, as in the shell) in
 * every string value; a missing variable without a default is reported at its field.
 */
function interpolateEnv(
  value: unknown,
  at: PropertyKey[],
  env: NodeJS.ProcessEnv,
  report: (fieldPath: PropertyKey[], message: string) => void,
  commandValues: Record<string, string>,
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
      const found = env[name] === undefined || (fallback !== undefined && env[name] === '') ? fallback : env[name];
      if (found === undefined) {
        report(at, `environment variable ${name} is not set (used as \${env:${name}})`);
        return `\${env:${name}}`; // keep the text so the schema does not add a second, misleading error
      }
      if (!isCommandField(at)) return found;
      commandValues[name] = found;
      return commandReference(name);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, [...at, i], env, report, commandValues));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, [...at, k], env, report, commandValues)]));
  }
  return value;
}

function resolve(parsed: ParsedConfig, file: string, root: string, env: NodeJS.ProcessEnv): ResolvedConfig {
  const abs = (p: string) => path.resolve(root, p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p);
  const namespace = parsed.kubernetes?.namespace ?? 'default';
  const services: Record<string, ResolvedService> = {};
  for (const [name, s] of Object.entries(parsed.services)) {
    services[name] = {
      name,
      kind: 'service',
      watch: s.watch && { paths: s.watch.paths.map(abs), ignore: s.watch.ignore },
      trigger: s.trigger,
      onChange: s.onChange,
      dependsOn: s.dependsOn,
      compile: s.compile && {
        command: s.compile.command,
        cwd: abs(s.compile.cwd ?? '.'),
        env: { ...commandEnv(s.compile.command, env), ...s.compile.env },
        timeoutMs: parseDuration(s.compile.timeout),
        problemMatcher: s.compile.problemMatcher,
        inputs: s.compile.inputs,
        ...(s.compile.container && {
          container: {
            image: s.compile.container.image,
            workdir: s.compile.container.workdir,
            mounts: s.compile.container.mounts.map((m) => ({ source: abs(m.source), target: m.target, readOnly: m.readOnly })),
            caches: s.compile.container.caches,
            env: s.compile.container.env ?? {},
            ...(s.compile.container.network && { network: s.compile.container.network }),
          },
        }),
      },
      stage: s.stage && {
        dir: abs(s.stage.dir),
        files: s.stage.files.map((f) => ({
          from: abs(f.from),
          to: path.posix.normalize(f.to.replace(/\\/g, '/')).replace(/^\/+/, ''),
          mode: f.mode === undefined ? undefined : parseInt(f.mode, 8),
        })),
        inputs: s.stage.inputs,
      },
      image: s.image && {
        repository: s.image.repository,
        dockerfile: s.image.dockerfile === undefined ? undefined : abs(s.image.dockerfile),
        base: s.image.base,
        context: s.image.context === undefined ? undefined : abs(s.image.context),
        platform: s.image.platforms?.[0] ?? s.image.platform,
        ...(s.image.platforms && { platforms: s.image.platforms }),
        buildArgs: s.image.buildArgs,
        ...(s.image.layers && { layers: s.image.layers.map((l, i) => ({ name: l.name ?? `layer ${i + 1}`, files: l.files, ...(l.key && { key: l.key }) })) }),
        keep: s.image.keep,
        maxContextBytes: s.image.maxContextSize === undefined ? undefined : parseSize(s.image.maxContextSize),
        inputs: s.image.inputs,
      },
      deploy: s.deploy && {
        workload: s.deploy.workload,
        manifests: resolveManifests(s.deploy, abs),
        ...(s.deploy.readiness?.command && { readiness: { command: s.deploy.readiness.command, timeoutMs: parseDuration(s.deploy.readiness.timeout) } }),
        container: s.deploy.container,
        namespace: s.deploy.namespace ?? namespace,
        strategy: s.deploy.strategy,
        readyTimeoutMs: parseDuration(s.deploy.readyTimeout),
        portForwards: s.deploy.portForwards.map((pf) => {
          const [local, remote] = pf.split(':').map(Number);
          return { local: local!, remote: remote! };
        }),
        streamLogs: s.deploy.streamLogs,
      },
      live: s.live && {
        sync: s.live.sync.map((m) => ({ from: path.posix.normalize(m.from.replace(/\\/g, '/')).replace(/^\/+|\/+$/g, ''), to: m.to })),
        action: s.live.action,
        signal: os.constants.signals[`SIG${s.live.signal}`],
        fallBackOn: s.live.fallBackOn,
        maxDeltaBytes: parseSize(s.live.maxDelta) ?? 64 * 1024 * 1024,
        graceMs: parseDuration(s.live.grace),
        listenTimeoutMs: parseDuration(s.live.listenTimeout),
      },
    };
    services[name] = withManifestWatch(services[name]);
  }
  // Resources run through the same pipeline as services (their build stages are simply absent).
  for (const [name, r] of Object.entries(parsed.resources)) services[name] ??= resolveResource(name, r, namespace, abs);
  const tasks: Record<string, ResolvedTask> = {};
  for (const [name, t] of Object.entries(parsed.tasks)) {
    tasks[name] = {
      name,
      kind: 'task',
      command: t.command,
      trigger: t.trigger,
      cwd: abs(t.cwd ?? '.'),
      env: { ...commandEnv(t.command, env), ...t.env },
      timeoutMs: parseDuration(t.timeout),
      dependsOn: t.dependsOn,
    };
  }
  return {
    file,
    root,
    version: 1,
    kubernetes: {
      context: parsed.kubernetes?.context,
      kubeconfig: parsed.kubernetes?.kubeconfig === undefined ? undefined : abs(parsed.kubernetes.kubeconfig),
      allowContexts: parsed.kubernetes?.allowContexts ?? DEFAULT_ALLOW_CONTEXTS,
      namespace,
    },
    docker: {
      host: parsed.docker?.host,
      registry: parsed.docker?.registry,
      delivery: parsed.docker?.delivery ?? 'auto',
    },
    settings: {
      quietWindowMs: parsed.settings.quietWindowMs,
      parallelism: parsed.settings.parallelism ?? Math.max(1, os.availableParallelism()),
      historyLimit: parsed.settings.historyLimit,
      followSymlinksOutsideWorkspace: parsed.settings.followSymlinksOutsideWorkspace,
    },
    services,
    tasks,
  };
}

/** Walks up from `dir` to find tightloop.yaml. */
export function findConfigFile(dir: string): string | undefined {
  let current = path.resolve(dir);
  for (;;) {
    const candidate = path.join(current, CONFIG_FILE_NAME);
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    const parent = path.dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}
