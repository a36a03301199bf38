import { stat } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import type { ResolvedConfig } from '../config/resolved.js';
import type { DoctorCheck, DoctorResult } from '../stages/stage.js';
import { bounded, oneLine } from './abort.js';
import { registryCredentials } from './registry/auth.js';
import { planBuild } from './context/plan.js';
import { findProblems, type Problem } from './context/preflight.js';
import { registryUrl, splitRepository } from './reference.js';
import type { DockerRuntime } from './runtime.js';
import { formatBytes, seconds } from './options.js';

/** `tightloop doctor`: Docker reachable, registries reachable, image preflight; every probe bounded. */
export function createDoctorChecks(runtime: DockerRuntime): DoctorCheck[] {
  return [
    { name: 'docker', run: (config, signal) => checkDocker(runtime, signal) },
    { name: 'registry', run: (config, signal) => checkRegistries(runtime, config, signal) },
    { name: 'image preflight', run: (config, signal) => checkPreflight(config, signal) },
  ];
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
    const cause = limit.timedOut() ? `no answer within ${seconds(runtime.timeouts.registryProbeMs)}` : oneLine(String((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message));
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
    const root = service.image.context ?? service.stage?.dir;
    if (!service.image.context && root && !(await stat(root).catch(() => undefined))) {
      // A fresh checkout: nothing to check yet, and nothing wrong.
      results.push(result('ok', `nothing staged yet in ${root}: will be staged by the first run (run doctor after it to check the binaries)`));
      continue;
    }
    const pending = service.image.context ? [] : await unstagedTargets(service);
    try {
      const plan = await planBuild({ service, configRoot: config.root }, signal);
      const found = await findProblems(plan, undefined);
      // A COPY of a file stage.files will put there, before the first run put it there, is fine.
      const problems = found.filter((p) => !willBeStaged(p, pending));
      if (problems.length < found.length) {
        results.push(result('ok', `${pending.join(', ')} not in ${root} yet: will be staged by the first run (run doctor after it to check the binaries)`));
      } else if (problems.length === 0) {
        results.push(result('ok', `${plan.dockerfile.label} and ${plan.files.entries.filter((e) => e.type === 'file').length} context files (${formatBytes(plan.files.bytes)}) pass the preflight`));
      }
      for (const problem of problems) results.push(result('fail', problem.message));
    } catch (error) {
      if (signal.aborted) throw error;
      results.push(result('fail', oneLine((error as Error).message)));
    }
  }
  return results;
}

/** stage.files targets not in the staging folder yet (a fresh checkout, or a file added to stage.files). */
async function unstagedTargets(service: ResolvedConfig['services'][string]): Promise<string[]> {
  const pending: string[] = [];
  for (const file of service.stage?.files ?? []) {
    if (!(await stat(path.join(service.stage!.dir, file.to)).catch(() => undefined))) pending.push(file.to);
  }
  return pending;
}

function willBeStaged(problem: Problem, pending: string[]): boolean {
  if (!problem.unstaged || pending.length === 0) return false;
  if (problem.unstaged === 'empty') return true;
  const { source } = problem.unstaged;
  const glob = /[*?[]/.test(source);
  const isMatch = glob ? picomatch(source, { dot: true }) : (p: string) => p === source;
  return source === '.' || pending.some((to) => isMatch(to) || to.startsWith(`${source}/`));
}
