/**
 * Shared fixtures for the Docker stage tests: real binaries, real staging folders, a real engine
 * and registry (scripts/services.sh starts them), contexts shaped like the engine's.
 */
import { execa } from 'execa';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import type { ResolvedConfig, ResolvedService } from '../../src/engine/config/resolved.js';
import type { ClusterFacts, RunOutputs, StageContext, StagedFile, StageResult, Stage } from '../../src/engine/stages/stage.js';
import type { LogStream } from '../../src/engine/types.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The loopback registry services.sh runs (`services.sh env` exports it). */
export const REGISTRY = process.env.TIGHTLOOP_REGISTRY ?? '127.0.0.1:5000';
/** REGISTRY escaped for use inside a RegExp. */
export const REGISTRY_RE = REGISTRY.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The engine services.sh runs (a unix DOCKER_HOST wins, as in CI). */
export const MAIN_SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock';
export const docker = new Docker({ socketPath: MAIN_SOCKET });

/** The docker CLI against the main engine (for checks from the outside: pull, run, rmi). */
export function dockerCli(args: string[], options: { reject?: boolean; timeout?: number } = {}) {
  return execa('docker', args, { env: { DOCKER_HOST: `unix://${MAIN_SOCKET}`, DOCKER_BUILDKIT: '0' }, timeout: options.timeout ?? 120_000, reject: options.reject ?? true });
}

let servicesChecked: Promise<void> | undefined;
/** Starts the engine and the loopback registry when they are not up (idempotent script). */
export function ensureServices(): Promise<void> {
  servicesChecked ??= (async () => {
    if ((await servicesUp()) === true) return;
    await execa('bash', [path.join(REPO_ROOT, 'scripts/services.sh'), 'start'], { timeout: 600_000, stdio: 'inherit' });
    const up = await servicesUp();
    if (up !== true) throw new Error(`test services are not up after scripts/services.sh start: ${up}`);
  })();
  return servicesChecked;
}

async function servicesUp(): Promise<true | string> {
  try {
    await docker.ping();
  } catch (error) {
    return `docker: ${(error as Error).message}`;
  }
  try {
    const response = await fetch(`http://${REGISTRY}/v2/`, { signal: AbortSignal.timeout(3000) });
    if (response.status !== 200) return `registry answered ${response.status}`;
  } catch (error) {
    return `registry: ${(error as Error).message}`;
  }
  return true;
}

export async function tempDir(prefix = 'tl-docker-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export function uniqueName(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

// --- real binaries ------------------------------------------------------------------------

const MARKER = 'TLMSG:0123456789abcdef0123456789abcdef';
let compiled: Promise<{ static: Buffer; dynamic: Buffer }> | undefined;

/**
 * A real C program that prints its embedded message. Compiled once (static and dynamic); variants
 * are made by rewriting the message bytes, which is exactly "a changed byte" for the tag tests.
 */
export function compiledBinaries(): Promise<{ static: Buffer; dynamic: Buffer }> {
  compiled ??= (async () => {
    const dir = await tempDir('tl-cc-');
    const source = path.join(dir, 'hello.c');
    await writeFile(source, `#include <stdio.h>\nvolatile char message[] = "${MARKER}";\nint main(void) { printf("hello from tightloop %s\\n", (const char *)message + 6); return 0; }\n`);
    await execa('gcc', ['-O2', '-static', '-o', path.join(dir, 'hello-static'), source]);
    await execa('gcc', ['-O2', '-o', path.join(dir, 'hello-dynamic'), source]);
    const result = { static: await readFile(path.join(dir, 'hello-static')), dynamic: await readFile(path.join(dir, 'hello-dynamic')) };
    await rm(dir, { recursive: true, force: true });
    return result;
  })();
  return compiled;
}

/** The static binary printing "hello from tightloop <text>" (text: up to 32 chars). */
export async function helloBinary(text: string, kind: 'static' | 'dynamic' = 'static'): Promise<Buffer> {
  const base = (await compiledBinaries())[kind];
  const at = base.indexOf(MARKER);
  if (at < 0) throw new Error('marker not found in the compiled binary');
  const copy = Buffer.from(base);
  const payload = Buffer.alloc(MARKER.length - 6, 0);
  payload.write(text.slice(0, MARKER.length - 7));
  payload.copy(copy, at + 6);
  return copy;
}

/** Pads a binary to `bytes` with deterministic noise the loader ignores (for size tests and benchmarks). */
export function padTo(binary: Buffer, bytes: number, seed: string): Buffer {
  if (binary.length >= bytes) return binary;
  // AES-CTR keystream: incompressible, reproducible from the seed, and fast.
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([binary, cipher.update(Buffer.alloc(bytes - binary.length)), cipher.final()]);
}

// --- staging + contexts -------------------------------------------------------------------

export interface StagedSet {
  stagingDir: string;
  stagingHash: string;
  stagedFiles: StagedFile[];
}

/** Writes files into a staging folder the way the stage step leaves it, with its outputs. */
export async function stage(dir: string, files: { path: string; content: Buffer | string; mode?: number }[]): Promise<StagedSet> {
  await mkdir(dir, { recursive: true });
  const stagedFiles: StagedFile[] = [];
  for (const file of files) {
    const target = path.join(dir, file.path);
    await mkdir(path.dirname(target), { recursive: true });
    // Like the stage step: new content gets a new inode (write elsewhere, rename in place).
    const temp = `${target}.tmp-${randomBytes(3).toString('hex')}`;
    await writeFile(temp, file.content);
    await chmod(temp, file.mode ?? 0o755);
    const { rename } = await import('node:fs/promises');
    await rename(temp, target);
    const content = Buffer.from(file.content);
    stagedFiles.push({ path: file.path, sha256: createHash('sha256').update(content).digest('hex'), size: content.length, mode: file.mode ?? 0o755 });
  }
  stagedFiles.sort((a, b) => a.path.localeCompare(b.path));
  const stagingHash = createHash('sha256').update(stagedFiles.map((f) => `${f.path}\0${f.mode.toString(8)}\0${f.sha256}\n`).join('')).digest('hex');
  return { stagingDir: dir, stagingHash, stagedFiles };
}

export function makeConfig(root: string, services: ResolvedService[], docker: Partial<ResolvedConfig['docker']> = {}): ResolvedConfig {
  return {
    file: path.join(root, 'tightloop.yaml'),
    root,
    version: 1,
    kubernetes: { allowContexts: ['kind-*'], namespace: 'default' },
    docker: { delivery: 'auto', ...docker },
    settings: { quietWindowMs: 30, parallelism: 2, historyLimit: 100 },
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    tasks: {},
  };
}

export function makeService(name: string, image: Partial<NonNullable<ResolvedService['image']>> & { repository: string }, stageDir?: string): ResolvedService {
  return {
    name,
    kind: 'service',
    trigger: 'auto',
    onChange: 'restart',
    dependsOn: [],
    ...(stageDir && { stage: { dir: stageDir, files: [{ from: path.join(stageDir, '..', 'out', 'app'), to: 'app' }] } }),
    image: { base: 'scratch', platform: 'linux/amd64', buildArgs: {}, keep: 5, ...image },
  };
}

export interface TestContext {
  ctx: StageContext;
  logs: { text: string; stream: LogStream }[];
  outputs: Partial<RunOutputs>;
  logText(): string;
}

export function makeContext(
  config: ResolvedConfig,
  serviceName: string,
  outputs: Partial<RunOutputs>,
  options: { signal?: AbortSignal; facts?: ClusterFacts | (() => Promise<ClusterFacts>); lastSuccess?: Partial<RunOutputs>; onLog?: (text: string) => void } = {},
): TestContext {
  const logs: { text: string; stream: LogStream }[] = [];
  const facts = options.facts;
  const ctx: StageContext = {
    config,
    service: config.services[serviceName]!,
    runId: uniqueName('run'),
    signal: options.signal ?? new AbortController().signal,
    outputs,
    handoffs: {},
    trigger: { reason: 'manual', changedFiles: [] },
    lastSuccess: options.lastSuccess,
    log(text, stream = 'info') {
      logs.push({ text, stream });
      options.onLog?.(text);
    },
    diagnostics() {},
    cluster: facts === undefined ? undefined : { facts: async () => (typeof facts === 'function' ? facts() : facts) },
  };
  return { ctx, logs, outputs, logText: () => logs.map((l) => `[${l.stream}] ${l.text}`).join('\n') };
}

/** Runs a stage like the engine does: outputs and hand-offs merged forward. */
export async function runStage(stage: Stage, test: TestContext): Promise<StageResult> {
  const result = await stage.run(test.ctx);
  Object.assign(test.outputs, result.outputs);
  Object.assign(test.ctx.handoffs, result.handoffs);
  return result;
}

/** Removes every image a test made for `service` (by label) and any extra references. */
export async function removeImages(service: string, extra: string[] = []): Promise<void> {
  const images = service ? await docker.listImages({ filters: { label: [`dev.tightloop.service=${service}`] } }) : [];
  for (const image of images) await docker.getImage(image.Id).remove({ force: true }).catch(() => {});
  for (const ref of extra) await docker.getImage(ref).remove({ force: true }).catch(() => {});
}

/** Deletes pushed manifests (repo@digest refs on the loopback registry) so test runs do not pile up there. */
export async function deleteFromRegistry(refs: (string | undefined)[]): Promise<void> {
  for (const ref of refs) {
    const match = ref && /^(127\.0\.0\.1:\d+)\/(.+)@(sha256:[0-9a-f]{64})$/.exec(ref);
    if (!match) continue;
    await fetch(`http://${match[1]}/v2/${match[2]}/manifests/${match[3]}`, { method: 'DELETE', signal: AbortSignal.timeout(5000) }).catch(() => {});
  }
}

export async function imageExists(ref: string): Promise<boolean> {
  return docker.getImage(ref).inspect().then(
    () => true,
    () => false,
  );
}

/** Asserts a failure message is a single line (the engine shows it next to the timing). */
export function assertOneLine(message: string): void {
  if (/\n/.test(message)) throw new Error(`expected a one-line message, got:\n${message}`);
}

export { rm, writeFile, mkdir, readFile, path };
