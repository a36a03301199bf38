import { execa } from 'execa';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { formatDuration } from '../../shared/format.js';
import { StageError } from '../stages/stage.js';
import type { LogStream } from '../types.js';
import { DEFAULT_GRACE_MS, terminateGroup, trackGroup, untrackGroup } from './process-groups.js';

export interface CommandSpec {
  command: string;
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** Grace period between SIGTERM and SIGKILL for the process group. */
  killGraceMs?: number;
}

export interface CommandResult {
  pid: number;
  durationMs: number;
  tail: string[];
}

const TAIL_LINES = 20;

/**
 * The shell waits for a line on fd 3 before it runs the command: Node writes it only once the
 * process group is recorded (trackGroup), so a Tightloop killed at any moment after the spawn
 * leaves a record of everything the command started. Without it, a fast command could spawn its
 * children before the record existed, and a SIGKILL then orphaned them unrecorded. If Tightloop
 * dies before opening the gate, `read` sees end-of-file and the shell exits without running the
 * command. On the same line as the command, so the shell's line numbers stay the user's.
 */
const GATE = 'read -r _ <&3 || exit 125; exec 3<&-; ';

/**
 * Runs a shell command in its own process group and streams its lines. Cancellation and timeout
 * kill the whole group (the shell, the compiler and anything they spawned), then wait until the
 * group is empty, so "cancelled" really means nothing of it is left running.
 */
export async function runCommand(
  spec: CommandSpec,
  signal: AbortSignal,
  onLine: (text: string, stream: LogStream) => void,
  /** Workspace root and service/task name: the group is recorded under root/.tightloop/processes. */
  owner?: { root: string; name: string },
): Promise<CommandResult> {
  const started = performance.now();
  const child = execa(GATE + spec.command, {
    shell: true,
    cwd: spec.cwd,
    env: spec.env,
    extendEnv: true,
    detached: true, // own process group: killing -pgid reaches every descendant
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'], // fd 3: the start gate
    buffer: false,
    reject: false,
    cleanup: false,
  });
  const pid = child.pid;
  // Node makes an extra "pipe" a duplex socket; execa types every extra fd as output.
  const gate = child.stdio[3] as unknown as Writable | undefined;
  if (pid === undefined) {
    gate?.destroy();
    const result = await child;
    throw new StageError(`could not start "${spec.command}": ${result.message ?? 'spawn failed'}`);
  }
  trackGroup(pid, { root: owner?.root, name: owner?.name ?? 'a command', command: spec.command });
  gate?.on('error', () => {}); // the shell may already be gone (killed); nothing to open then
  gate?.end('\n');
  const tail: string[] = [];
  const pump = (stream: Readable | null, kind: LogStream) =>
    new Promise<void>((resolve) => {
      if (!stream) return resolve();
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on('line', (line) => {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        onLine(line, kind);
      });
      lines.on('close', resolve);
    });
  const reading = Promise.all([pump(child.stdout, 'stdout'), pump(child.stderr, 'stderr')]);

  let timedOut = false as boolean; // set by the timer below, while `await child` waits
  const stop = () => void terminateGroup(pid, spec.killGraceMs ?? DEFAULT_GRACE_MS);
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, spec.timeoutMs);
  signal.addEventListener('abort', stop, { once: true });
  if (signal.aborted) stop();

  try {
    const result = await child;
    // Output readers end when every writer of the pipes is gone; background children may hold them.
    await Promise.race([reading, delay(500)]);
    if (timedOut || signal.aborted) {
      await terminateGroup(pid, spec.killGraceMs ?? DEFAULT_GRACE_MS);
    }
    if (timedOut) {
      throw new StageError(`"${spec.command}" timed out after ${formatDuration(spec.timeoutMs)} and was stopped`, { evidence: tail, evidenceLogged: true });
    }
    if (signal.aborted) throw new StageError('cancelled');
    if (result.exitCode !== 0) {
      const how = result.exitCode === undefined ? `was killed by ${result.signal ?? 'a signal'}` : `exited with code ${result.exitCode}`;
      throw new StageError(`"${spec.command}" ${how}`, { evidence: tail, evidenceLogged: true });
    }
    return { pid, durationMs: performance.now() - started, tail };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
    await untrackGroup(pid);
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));


