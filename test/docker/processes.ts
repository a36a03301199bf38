/**
 * Real extra processes for fault tests: a second docker-registry (plain or with htpasswd auth) and
 * a throwaway dockerd on its own socket and data root. Each is stopped by its own PID.
 */
import { execa } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';

import { freePort } from '../helpers/net.js';

export { freePort };

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`${what} exited early`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms`);
}

/** bcrypt (cost 4) of "tl-secret" for user "tluser"; the registry's htpasswd accepts only bcrypt. */
export const REGISTRY_USER = 'tluser';
export const REGISTRY_PASSWORD = 'tl-secret';
const HTPASSWD = 'tluser:$2b$04$b9kV9773QTKFIw8Ohp6ZX.onNpo1xXzCZ3x2m0qhfbwMaqktkmX2a\n';

export interface RegistryProcess {
  host: string;
  stop(): Promise<void>;
}

/** docker-registry on 127.0.0.1:<port>, loopback only, optionally requiring htpasswd auth or with deletes disabled. */
export async function startRegistry(dir: string, options: { port?: number; auth?: boolean; deletes?: boolean } = {}): Promise<RegistryProcess> {
  const port = options.port ?? (await freePort());
  await mkdir(path.join(dir, 'data'), { recursive: true });
  const auth = options.auth ? `auth: { htpasswd: { realm: tightloop-test, path: ${path.join(dir, 'htpasswd')} } }\n` : '';
  if (options.auth) await writeFile(path.join(dir, 'htpasswd'), HTPASSWD);
  await writeFile(
    path.join(dir, 'registry.yml'),
    `version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: ${path.join(dir, 'data')} }, delete: { enabled: ${options.deletes ?? true} } }\nhttp: { addr: 127.0.0.1:${port} }\n${auth}`,
  );
  const log = openSync(path.join(dir, 'registry.log'), 'a');
  const child = spawn('docker-registry', ['serve', path.join(dir, 'registry.yml')], { stdio: ['ignore', log, log] });
  const done = exitOf(child);
  let exited = false;
  void done.then(() => (exited = true));
  const host = `127.0.0.1:${port}`;
  await waitFor(`docker-registry on ${host}`, 20_000, async () => (await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) })).status > 0, () => !exited);
  return { host, stop: () => stopChild(child, done) };
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
}

async function stopChild(child: ChildProcess, done: Promise<void>, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
}

export interface ThrowawayDockerd {
  socket: string;
  pid: number;
  docker: Docker;
  /** Freeze (SIGSTOP), thaw (SIGCONT), or kill -9 the daemon. */
  signal(name: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void;
  /** Start again on the same socket and data root (after a kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A second Docker engine of our own (about half a second to start): own socket, data root and
 * exec root, no bridge or iptables changes. The faults we inflict on it never touch the engine
 * other tests and engineers use.
 */
export async function startThrowawayDockerd(dir: string): Promise<ThrowawayDockerd> {
  const socket = path.join(dir, 'docker.sock');
  const args = [
    '--host', `unix://${socket}`,
    '--data-root', path.join(dir, 'data'),
    '--exec-root', path.join(dir, 'exec'),
    '--pidfile', path.join(dir, 'docker.pid'),
    '--bridge', 'none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--userland-proxy=false',
  ];
  const docker = new Docker({ socketPath: socket });
  let child!: ChildProcess;
  let done!: Promise<void>;
  let exited = false;
  const orphans = new Set<number>();
  const launch = async () => {
    const log = openSync(path.join(dir, 'dockerd.log'), 'a');
    child = spawn('dockerd', args, { stdio: ['ignore', log, log], detached: true });
    done = exitOf(child);
    exited = false;
    const mine = child;
    void done.then(() => {
      if (mine === child) exited = true;
    });
    await waitFor('throwaway dockerd', 30_000, async () => (await docker.ping(), true), () => !exited);
    // Its containerd: started by this dockerd, left behind if we kill -9 the daemon.
    for (const pid of childrenOf(child.pid!)) orphans.add(pid);
  };
  await launch();
  return {
    socket,
    get pid() {
      return child.pid!;
    },
    docker,
    signal: (name) => process.kill(child.pid!, name),
    restart: async () => {
      await done;
      // The killed daemon's containerd died with it (parent-death signal) but may linger as a
      // zombie, which the new daemon would mistake for a live containerd named in this pid file.
      await rm(path.join(dir, 'exec', 'containerd', 'containerd.pid'), { force: true });
      await launch();
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGCONT');
        await stopChild(child, done);
      }
      killAll(orphans, dir);
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent) out.push(Number(name));
    } catch {
      // process gone meanwhile
    }
  }
  return out;
}

/** Kills what is left of the processes we started; the command line must still name our dir (PIDs get reused). */
function killAll(pids: Set<number>, dir: string): void {
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  pids.clear();
}

/** A killed dockerd can leave overlay mounts below its data root; they must go before rm -rf. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((target) => target.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) await execa('umount', ['-l', target], { reject: false });
}
