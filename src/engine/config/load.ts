import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { ConfigIssue } from '../types.js';
import { parseDuration, parseSize } from './duration.js';
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
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigError([{ file: absolute, line: 0, column: 0, path: '', message: reason }]);
  }
  const result = parseConfigText(text, absolute, env, options);
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
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const where = new PositionFinder(doc, lines);
  const issueAt = (fieldPath: readonly PropertyKey[], message: string, key?: string): ConfigIssue => ({
    file,
    ...where.locate(fieldPath, key),
    path: [...fieldPath, ...(key === undefined ? [] : [key])].map(String).join('.'),
    message,
  });

  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => ({
      file,
      ...where.at(e.pos[0], [e.pos[0], e.pos[1]] as [number, number]),
      path: '',
      message: `YAML: ${e.message.split('\n')[0]}`,
    }));
    return { issues };
  }

  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { issues: [{ file, line: 1, column: 1, path: '', message: 'expected a mapping with version: 1 and services' }] };
  }
  const issues: ConfigIssue[] = [];
  const interpolated = interpolateEnv(raw, [], env, (p, m) => issues.push(issueAt(p, m)));

  const parsed = ConfigSchema.safeParse(interpolated);
  if (!parsed.success) {
    for (const zodIssue of parsed.error.issues) {
      if (zodIssue.code === 'unrecognized_keys') {
        for (const key of zodIssue.keys) issues.push(issueAt(zodIssue.path, unknownFieldMessage(zodIssue.path, key), key));
      } else {
        issues.push(issueAt(zodIssue.path, zodIssue.message));
      }
    }
    return { issues: sortIssues(issues) };
  }
  if (issues.length > 0) return { issues: sortIssues(issues) };

  const root = path.dirname(file);
  const config = resolve(parsed.data, file, root);
  const editRank = (fieldPath: readonly PropertyKey[]) => {
    const rank = options.recentEdits?.indexOf(where.locate(fieldPath).line) ?? -1;
    return rank < 0 ? undefined : rank;
  };
  for (const problem of checkSemantics(config, parsed.data, editRank)) issues.push(issueAt(problem.path, problem.message));
  return issues.length > 0 ? { issues: sortIssues(issues) } : { config, issues: [] };
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
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
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
      const found = env[name] === undefined || (fallback !== undefined && env[name] === '') ? fallback : env[name];
      if (found === undefined) {
        report(at, `environment variable ${name} is not set (used as \${env:${name}})`);
        return `\${env:${name}}`; // keep the text so the schema does not add a second, misleading error
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, [...at, i], env, report));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, [...at, k], env, report)]));
  }
  return value;
}

function resolve(parsed: ParsedConfig, file: string, root: string): ResolvedConfig {
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
        env: s.compile.env ?? {},
        timeoutMs: parseDuration(s.compile.timeout),
        problemMatcher: s.compile.problemMatcher,
        inputs: s.compile.inputs,
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
        platform: s.image.platform,
        buildArgs: s.image.buildArgs,
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
      env: t.env ?? {},
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
