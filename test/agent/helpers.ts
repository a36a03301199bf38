/**
 * Fixtures for the live-update agent tests: the agent built by scripts/build-agent.sh, a static
 * test server (testsrv.c) in versions that differ in their bytes, FROM scratch images holding
 * both, and containers on the real engine (host network, 127.0.0.1 only).
 */
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { dockerCli, REPO_ROOT, tempDir, uniqueName } from '../docker/helpers.js';

const ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
let built: Promise<string> | undefined;

/** The agent for this machine's architecture (built once per test process, idempotently). */
export function agentBinary(): Promise<string> {
  built ??= (async () => {
    await execa('bash', [path.join(REPO_ROOT, 'scripts/build-agent.sh')], { timeout: 600_000 });
    return path.join(REPO_ROOT, 'dist/agent', `agent-linux-${ARCH}`);
  })();
  return built;
}

const MARKER = 'TLVER:0123456789abcdef0123456789abcdef';
let server: Promise<Buffer> | undefined;

/** testsrv.c as a static binary printing `version` (up to 31 chars). */
export async function serverBinary(version: string): Promise<Buffer> {
  server ??= (async () => {
    const dir = await tempDir('tl-testsrv-');
    await execa('musl-gcc', ['-static', '-Os', '-o', path.join(dir, 'testsrv'), path.join(REPO_ROOT, 'test/agent/testsrv.c')]);
    const binary = await readFile(path.join(dir, 'testsrv'));
    await rm(dir, { recursive: true, force: true });
    return binary;
  })();
  const base = await server;
  const at = base.indexOf(MARKER);
  if (at < 0) throw new Error('version marker not found in testsrv');
  const copy = Buffer.from(base);
  const payload = Buffer.alloc(MARKER.length - 6, 0);
  payload.write(version.slice(0, MARKER.length - 7));
  payload.copy(copy, at + 6);
  return copy;
}

export interface LiveImage {
  ref: string;
  remove(): Promise<void>;
}

/**
 * FROM scratch + the agent (PID 1, sync target /app) + the server at /app/server. `withAgent:
 * false` makes the plain image (server as entrypoint) that a non-live build gives.
 */
export async function buildImage(version: string, options: { withAgent?: boolean } = {}): Promise<LiveImage> {
  const dir = await tempDir('tl-live-image-');
  await mkdir(path.join(dir, 'app'));
  await writeFile(path.join(dir, 'app/server'), await serverBinary(version), { mode: 0o755 });
  await symlink('/etc', path.join(dir, 'app/etc-link')); // a symlink inside the target leading outside it
  await mkdir(path.join(dir, 'etc'));
  await writeFile(path.join(dir, 'etc/keep'), 'keep\n');
  const withAgent = options.withAgent ?? true;
  if (withAgent) await writeFile(path.join(dir, 'agent'), readFileSync(await agentBinary()), { mode: 0o755 });
  const entry = withAgent ? '["/.tightloop/agent","run","--target","/app","--grace","5000","--","/app/server"]' : '["/app/server"]';
  await writeFile(
    path.join(dir, 'Dockerfile'),
    `FROM scratch\nCOPY app /app\nCOPY etc /etc\n${withAgent ? 'COPY agent /.tightloop/agent\n' : ''}ENTRYPOINT ${entry}\n`,
  );
  const ref = `tightloop-test/live-agent-${uniqueName()}:1`;
  await dockerCli(['build', '-q', '-t', ref, dir]);
  await rm(dir, { recursive: true, force: true });
  return { ref, remove: async () => void (await dockerCli(['rmi', '-f', ref], { reject: false })) };
}

export interface RunningContainer {
  id: string;
  port: number;
  /** The container's PID 1 as the host sees it. */
  hostPid(): Promise<number>;
  remove(): Promise<void>;
}

/** Runs the image on the host network: the server listens on 127.0.0.1:port. */
export async function runContainer(image: string, port: number): Promise<RunningContainer> {
  const { stdout } = await dockerCli(['run', '-d', '--network', 'host', '--name', uniqueName('tl-live-'), image, String(port)]);
  const id = stdout.trim();
  const c: RunningContainer = {
    id,
    port,
    hostPid: async () => Number((await dockerCli(['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim()),
    remove: async () => void (await dockerCli(['rm', '-f', id], { reject: false })),
  };
  await waitUntil(`the server in ${id.slice(0, 12)} answers on ${port}`, 30_000, async () => (await get(port, '/')).status === 200);
  return c;
}

export interface Reply {
  status: number;
  body: string;
}

/** One HTTP GET to 127.0.0.1 (no keep-alive: each request is a new connection, as a swap needs). */
export function get(port: number, pathname: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Polls a state (never a fixed sleep) until it holds. */
export async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting until ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/** Host PIDs of the children of `pid`, with their state letter (Z: zombie). */
export async function childrenOf(pid: number): Promise<{ pid: number; state: string }[]> {
  const out: { pid: number; state: string }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = await readFile(`/proc/${entry}/status`, 'utf8');
      const ppid = /^PPid:\s+(\d+)/m.exec(status)?.[1];
      if (Number(ppid) === pid) out.push({ pid: Number(entry), state: /^State:\s+(\S)/m.exec(status)?.[1] ?? '?' });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}
