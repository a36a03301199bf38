import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecBackend } from './exec.js';

/**
 * A fake pod's container as real local processes: the agent (`agent run`, as the container's
 * PID 1 would be) supervising the container's command, with the container's files under `root`
 * (the agent's TIGHTLOOP_AGENT_ROOT) and its control socket under `root/.tightloop/run`. `exec`
 * runs `/.tightloop/agent ...` as that agent binary with the same environment — what exec in a
 * container built in live mode does.
 */
export class LocalAgentContainer {
  private constructor(
    readonly root: string,
    private readonly agent: string,
    readonly supervisor: ChildProcess,
    readonly output: { text: string },
  ) {}

  static async start(agent: string, options: { files: { path: string; content: Buffer; mode?: number }[]; command: string[]; targets: string[] }): Promise<LocalAgentContainer> {
    const root = await mkdtemp(path.join(tmpdir(), 'tl-fake-container-'));
    for (const f of options.files) {
      await mkdir(path.dirname(path.join(root, f.path)), { recursive: true });
      await writeFile(path.join(root, f.path), f.content);
      await chmod(path.join(root, f.path), f.mode ?? 0o644);
    }
    const [cmd, ...args] = options.command;
    const supervisor = spawn(agent, ['run', ...options.targets.flatMap((t) => ['--target', t]), '--', path.join(root, cmd!), ...args], {
      env: { ...process.env, TIGHTLOOP_AGENT_RUN_DIR: path.join(root, '.tightloop/run') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = { text: '' };
    supervisor.stdout!.on('data', (d: Buffer) => (output.text += d.toString()));
    supervisor.stderr!.on('data', (d: Buffer) => (output.text += d.toString()));
    const container = new LocalAgentContainer(root, agent, supervisor, output);
    const deadline = Date.now() + 10_000;
    while (!existsSync(path.join(root, '.tightloop/run/agent.sock'))) {
      if (supervisor.exitCode !== null || Date.now() > deadline) throw new Error(`the agent did not start: ${output.text}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return container;
  }

  /** The exec backend for this container. */
  readonly exec: ExecBackend = (_pod, _container, command) => {
    if (command[0] !== '/.tightloop/agent') return { error: `exec: "${command[0]}": stat ${command[0]}: no such file or directory` };
    return spawn(this.agent, command.slice(1), {
      env: { ...process.env, TIGHTLOOP_AGENT_RUN_DIR: path.join(this.root, '.tightloop/run'), TIGHTLOOP_AGENT_ROOT: this.root },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  };

  async stop(): Promise<void> {
    if (this.supervisor.exitCode === null && this.supervisor.signalCode === null) {
      const exited = new Promise((r) => this.supervisor.once('exit', r));
      this.supervisor.kill('SIGTERM');
      await exited;
    }
    await rm(this.root, { recursive: true, force: true });
  }
}
