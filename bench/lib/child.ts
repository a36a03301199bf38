import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import type { ChildCommand, ChildMessage } from '../child/engine-child.js';
import { REPO_ROOT } from './fixture.js';
import { sleep } from './stats.js';

/** dockerode's optional native helpers stay external (loaded in try/catch), as in scripts/build.mjs. */
const nativeExternal: esbuild.Plugin = {
  name: 'native-external',
  setup(build) {
    build.onResolve({ filter: /\.node$|^cpu-features$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** Bundles bench/child/engine-child.ts once per bench run (the product ships bundled too). */
export async function bundleChild(tmpRoot: string): Promise<string> {
  const out = path.join(tmpRoot, 'engine-child.mjs');
  if (existsSync(out)) return out;
  await esbuild.build({
    entryPoints: [path.join(REPO_ROOT, 'bench/child/engine-child.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
    plugins: [nativeExternal],
    // CommonJS dependencies call require() and read __dirname (ssh2, under dockerode); ESM has neither.
    banner: {
      js: [
        "import { createRequire as __tlCreateRequire } from 'node:module';",
        "import { fileURLToPath as __tlFileURLToPath } from 'node:url';",
        'const require = __tlCreateRequire(import.meta.url);',
        'const __filename = __tlFileURLToPath(import.meta.url);',
        "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
      ].join('\n'),
    },
  });
  return out;
}

/** An engine running in a child process, driven over IPC. */
export class EngineProcess {
  private readonly listeners = new Set<(m: ChildMessage) => void>();
  private nextId = 1;
  private exited = false;
  readonly stderr: string[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: ChildMessage) => {
      for (const l of this.listeners) l(m);
    });
    child.on('exit', () => (this.exited = true));
    child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
  }

  static async start(bundle: string, configFile: string, options: { integrations: boolean; initial: boolean; timeoutMs?: number }): Promise<EngineProcess> {
    const args = [configFile, ...(options.integrations ? ['--integrations'] : []), ...(options.initial ? ['--initial'] : [])];
    // --expose-gc only makes gc() callable (for the soak's retained-heap reading); it changes nothing else.
    const child = fork(bundle, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: ['--expose-gc'] });
    const engine = new EngineProcess(child);
    await engine.waitFor((m) => m.ev === 'ready', options.timeoutMs ?? 180_000, 'engine child did not get ready');
    return engine;
  }

  get pid(): number {
    return this.child.pid!;
  }

  on(listener: (m: ChildMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  waitFor<T extends ChildMessage>(match: (m: ChildMessage) => boolean, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const tail = () => (this.stderr.length ? `: ${this.stderr.join('').slice(-500)}` : '');
      const done = () => {
        clearTimeout(timer);
        off();
        this.child.off('exit', onExit);
      };
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`engine child exited (${code}) before: ${what}${tail()}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what} within ${timeoutMs} ms${tail()}`));
      }, timeoutMs);
      const off = this.on((m) => {
        if (!match(m)) return;
        done();
        resolve(m as T);
      });
      this.child.on('exit', onExit);
    });
  }

  send(command: ChildCommand): void {
    this.child.send(command);
  }

  async idle(timeoutMs = 300_000): Promise<void> {
    const id = this.nextId++;
    const waiting = this.waitFor((m) => m.ev === 'idle' && m.id === id, timeoutMs, 'engine child did not become idle');
    this.send({ cmd: 'idle', id });
    await waiting;
  }

  async memory(gc: boolean): Promise<NodeJS.MemoryUsage> {
    const id = this.nextId++;
    const answer = this.waitFor<Extract<ChildMessage, { ev: 'mem' }>>((m) => m.ev === 'mem' && m.id === id, 30_000, 'no memory reading');
    this.send({ cmd: 'mem', id, gc });
    return (await answer).usage;
  }

  /** Writes a heap snapshot of the child (after a full GC) to `file`. */
  async snapshot(file: string): Promise<string> {
    const id = this.nextId++;
    const answer = this.waitFor<Extract<ChildMessage, { ev: 'snapshot' }>>((m) => m.ev === 'snapshot' && m.id === id, 300_000, 'no heap snapshot');
    this.send({ cmd: 'snapshot', id, file });
    return (await answer).file;
  }

  /** A CPU profile of the child over the next `durationMs`, written to `file`. */
  async profile(file: string, durationMs: number): Promise<string> {
    const id = this.nextId++;
    const answer = this.waitFor<Extract<ChildMessage, { ev: 'profile' }>>((m) => m.ev === 'profile' && m.id === id, durationMs + 60_000, 'no CPU profile');
    this.send({ cmd: 'profile', id, file, durationMs });
    return (await answer).file;
  }

  /** Idle, and still idle after late watcher events had their quiet window. */
  async settle(): Promise<void> {
    await this.idle();
    await sleep(200);
    await this.idle();
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ cmd: 'stop' });
    const timeout = sleep(15_000).then(() => 'timeout' as const);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the child may exit during the wait
    if ((await Promise.race([gone, timeout])) === 'timeout' && !this.exited) {
      this.child.kill('SIGKILL'); // our own child, by its handle (pid), never by name
      await gone;
    }
  }
}

/** A bare Node process doing nothing: the runtime's own idle CPU and RSS, the watcher-scale baseline. */
export async function bareNode(): Promise<{ pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  await sleep(500);
  return {
    pid: child.pid!,
    stop: async () => {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
