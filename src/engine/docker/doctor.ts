import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../config/resolved.js';
import type { DoctorCheck, DoctorResult } from '../stages/stage.js';
import { bounded } from './abort.js';
import { oneLine } from '../text.js';
import { registryCredentials } from './registry/auth.js';
import { excludingRule, type BuildContextFiles, type ContextEntry } from './context/build-context.js';
import { planBuild } from './context/plan.js';
import { findProblems } from './context/preflight.js';
import { registryUrl, splitRepository } from './reference.js';
import type { DockerRuntime } from './runtime.js';
import { describeBuildContainer } from '../compile/container/dev-container.js';
import { formatBytes, formatDuration } from '../../shared/format.js';

/** `tightloop doctor`: Docker reachable, registries reachable, image preflight; every probe bounded. */
export function createDoctorChecks(runtime: DockerRuntime): DoctorCheck[] {
  return [
    { name: 'docker', run: (config, signal) => checkDocker(runtime, signal) },
    { name: 'registry', run: (config, signal) => checkRegistries(runtime, config, signal) },
    { name: 'image preflight', run: (config, signal) => checkPreflight(config, signal) },
    { name: 'build container', run: (config, signal) => checkBuildContainers(runtime, config, signal) },
  ];
}

/** Each service's compile.container: image present, kept container running, stopped or stale. */
async function checkBuildContainers(runtime: DockerRuntime, config: ResolvedConfig, signal: AbortSignal): Promise<DoctorResult[]> {
  const results: DoctorResult[] = [];
  for (const service of Object.values(config.services)) {
    const spec = service.compile?.container;
    if (!spec) continue;
    try {
      const said = await describeBuildContainer(runtime.client(), { root: config.root, service: service.name }, spec, signal);
      results.push({ check: 'build container', service: service.name, ...said });
    } catch (error) {
      if (signal.aborted) throw error;
      results.push({ check: 'build container', service: service.name, status: 'fail', message: oneLine((error as Error).message) });
    }
  }
  return results;
}

async function checkDocker(runtime: DockerRuntime, signal: AbortSignal): Promise<DoctorResult[]> {
  try {
    const client = runtime.client();
    await client.ping(signal);
    const version = await client.version(signal);
    return [{ check: 'docker', status: 'ok', message: `Docker engine ${version.Version} (API ${version.ApiVersion}, ${version.Os}/${version.Arch}) at ${client.endpoint.url} (${client.endpoint.source})` }];
  } catch (error) {
    if (signal.aborted) throw error;
    return [{ check: 'docker', status: 'fail', message: oneLine((error as Error).message) }];
  }
}

/** Registries Tightloop would push to: docker.registry, each repository's registry, the cluster's. */
async function registriesOf(runtime: DockerRuntime, config: ResolvedConfig, signal: AbortSignal): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (config.docker.registry) found.set(config.docker.registry, 'docker.registry');
  for (const service of Object.values(config.services)) {
    const registry = service.image && splitRepository(service.image.repository).registry;
    if (registry && !config.docker.registry && !found.has(registry)) found.set(registry, `services.${service.name}.image.repository`);
  }
  if (runtime.cluster && !config.docker.registry) {
    const limit = bounded(signal, runtime.timeouts.clusterFactsMs);
    const facts = await runtime.cluster.facts(limit.signal).catch(() => undefined);
    if (facts?.localRegistry && !found.has(facts.localRegistry.host)) found.set(facts.localRegistry.host, 'the cluster (local-registry-hosting)');
  }
  return found;
}

async function checkRegistries(runtime: DockerRuntime, config: ResolvedConfig, signal: AbortSignal): Promise<DoctorResult[]> {
  const registries = await registriesOf(runtime, config, signal);
  if (registries.size === 0) return [{ check: 'registry', status: 'ok', message: 'no registry configured: delivery is decided from the cluster (shared daemon or kind load)' }];
  const results: DoctorResult[] = [];
  for (const [registry, from] of registries) results.push(await probeRegistry(runtime, registry, from, signal));
  return results;
}

/** GET /v2/: 200 is open, 401 wants a login (fine if we have credentials), anything else is trouble. */
export async function probeRegistry(runtime: DockerRuntime, registry: string, from: string, signal: AbortSignal): Promise<DoctorResult> {
  const url = `${registryUrl(registry)}/v2/`;
  const limit = bounded(signal, runtime.timeouts.registryProbeMs);
  let status: number;
  try {
    const response = await fetch(url, { signal: limit.signal, redirect: 'manual' });
    status = response.status;
    await response.body?.cancel();
  } catch (error) {
    if (signal.aborted) throw error;
    const cause = limit.timedOut() ? `no answer within ${formatDuration(runtime.timeouts.registryProbeMs)}` : oneLine(String((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message));
    return { check: 'registry', status: 'fail', message: `registry ${registry} (from ${from}) is not reachable at ${url}: ${cause}` };
  }
  if (status === 200) return { check: 'registry', status: 'ok', message: `registry ${registry} (from ${from}) answers at ${url}` };
  if (status === 401) {
    const credentials = await registryCredentials(registry, { configDir: runtime.dockerConfigDir, env: runtime.env, signal, timeoutMs: runtime.timeouts.credentialHelperMs }).catch(
      (error: Error) => ({ auth: undefined, source: error.message }),
    );
    return credentials.auth
      ? { check: 'registry', status: 'ok', message: `registry ${registry} (from ${from}) requires a login; credentials from ${credentials.source}` }
      : { check: 'registry', status: 'warn', message: `registry ${registry} (from ${from}) requires a login and no credentials were found (${credentials.source}): run docker login ${registry}` };
  }
  return { check: 'registry', status: 'warn', message: `registry ${registry} (from ${from}) answered HTTP ${status} at ${url}` };
}

async function checkPreflight(config: ResolvedConfig, signal: AbortSignal): Promise<DoctorResult[]> {
  const results: DoctorResult[] = [];
  for (const service of Object.values(config.services)) {
    if (!service.image) continue;
    const result = (status: DoctorResult['status'], message: string): DoctorResult => ({ check: 'image preflight', status, message, service: service.name });
    try {
      // Judge what the first run will stage (stage.files), never an old staged copy: a fresh
      // checkout has nothing staged yet, and a stale copy would hide a wrong stage.files.
      const expected = service.stage ? await expectedStaging(service.stage) : undefined;
      let files: BuildContextFiles | undefined;
      const planned = service.image.context
        ? await planBuild({ service, configRoot: config.root, followSymlinksOutsideWorkspace: config.settings.followSymlinksOutsideWorkspace }, signal)
        : await planBuild({ service, configRoot: config.root, followSymlinksOutsideWorkspace: config.settings.followSymlinksOutsideWorkspace, files: (files = stagingFiles(service.stage?.dir ?? config.root, expected?.entries ?? [])) }, signal);
      if (service.image.context && expected) addExpected(planned.files, service.stage!.dir, expected.entries);
      const problems = await findProblems(planned, undefined);
      const toBeStaged = (expected?.notYetBuilt ?? []).map((p) => (service.image!.context ? path.posix.join(path.relative(planned.files.root, service.stage!.dir).split(path.sep).join('/'), p) : p));
      if (toBeStaged.length) results.push(result('ok', `${toBeStaged.join(', ')} will be staged by the first run (the compile step builds ${toBeStaged.length === 1 ? 'it' : 'them'})`));
      if (problems.length === 0) {
        const count = (files ?? planned.files).entries.filter((e) => e.type === 'file').length;
        results.push(result('ok', `${planned.dockerfile.label} and ${count} context files (${formatBytes(planned.files.bytes)}) pass the preflight`));
      }
      for (const problem of problems) results.push(result('fail', problem.message));
    } catch (error) {
      if (signal.aborted) throw error;
      results.push(result('fail', oneLine((error as Error).message)));
    }
  }
  return results;
}

type StageSpec = NonNullable<ResolvedConfig['services'][string]['stage']>;

/**
 * The staging folder as the stage step will fill it: every stage.files target. A source that
 * does not exist yet (not compiled) is still expected; its bytes are judged from the last staged
 * copy of that same target when there is one.
 */
async function expectedStaging(stage: StageSpec): Promise<{ entries: ContextEntry[]; notYetBuilt: string[] }> {
  const entries: ContextEntry[] = [];
  const notYetBuilt: string[] = [];
  for (const file of stage.files) {
    const info = await stat(file.from).catch(() => undefined);
    if (info?.isDirectory()) {
      for (const entry of await readdir(file.from, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const abs = path.join(entry.parentPath, entry.name);
        const below = await stat(abs);
        entries.push(fileEntry(path.posix.join(file.to, path.relative(file.from, abs).split(path.sep).join('/')), abs, below.size, file.mode ?? below.mode));
      }
      continue;
    }
    if (!info) notYetBuilt.push(file.to);
    const staged = path.join(stage.dir, file.to);
    const source = info ? file.from : (await stat(staged).catch(() => undefined)) ? staged : file.from;
    const size = info?.size ?? (await stat(source).catch(() => undefined))?.size ?? 0;
    entries.push(fileEntry(file.to, source, size, file.mode ?? info?.mode ?? 0o755));
  }
  return { entries, notYetBuilt };
}

function fileEntry(relative: string, abs: string, size: number, mode: number): ContextEntry {
  return { path: relative, abs, type: 'file', size, mode, signature: '' };
}

function stagingFiles(dir: string, entries: ContextEntry[]): BuildContextFiles {
  return { root: dir, mode: 'staging', entries, bytes: entries.reduce((sum, e) => sum + e.size, 0), rules: [] };
}

/** Context mode: the staged files the Dockerfile may COPY from the repo, present or not yet. */
function addExpected(files: BuildContextFiles, stageDir: string, expected: ContextEntry[]): void {
  const prefix = path.relative(files.root, stageDir).split(path.sep).join('/');
  if (prefix.startsWith('..') || path.isAbsolute(prefix)) return;
  const wanted = new Map(expected.map((e) => [prefix ? path.posix.join(prefix, e.path) : e.path, e]));
  // A file in the staging folder that stage.files does not declare is removed by the next run.
  files.entries = files.entries.filter((e) => e.type !== 'file' || !(prefix === '' || e.path.startsWith(prefix + '/')) || wanted.has(e.path));
  const present = new Set(files.entries.map((e) => e.path));
  for (const [inContext, entry] of wanted) {
    if (!present.has(inContext) && !excludingRule(files.rules, inContext)) files.entries.push({ ...entry, path: inContext });
  }
}
