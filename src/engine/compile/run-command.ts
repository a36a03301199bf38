import { execa } from 'execa';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { formatDuration } from '../config/duration.js';
import { StageError } from '../stages/stage.js';
import type { LogStream } from '../types.js';

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

/** Process groups still running, so an exiting CLI/extension host never leaves compilers behind. */
const liveGroups = new Set<number>();
process.once('exit', () => {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
});

/**
 * Runs a shell command in its own process group and streams its lines. Cancellation and timeout
 * kill the whole group (the shell, the compiler and anything they spawned), then wait until the
 * group is empty, so "cancelled" really means nothing of it is left running.
 */
export async function runCommand(
  spec: CommandSpec,
  signal: AbortSignal,
  onLine: (text: string, stream: LogStream) => void,
): Promise<CommandResult> {
  const started = performance.now();
  const child = execa(spec.command, {
    shell: true,
    cwd: spec.cwd,
    env: spec.env,
    extendEnv: true,
    detached: true, // own process group: killing -pgid reaches every descendant
    stdin: 'ignore',
    buffer: false,
    reject: false,
    cleanup: false,
  });
  const pid = child.pid;
  if (pid === undefined) {
    const result = await child;
    throw new StageError(`could not start "${spec.command}": ${result.message ?? 'spawn failed'}`);
  }
  liveGroups.add(pid);
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

  let timedOut = false;
  const stop = () => void terminateGroup(pid, spec.killGraceMs ?? 2000);
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
      await terminateGroup(pid, spec.killGraceMs ?? 2000);
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
    liveGroups.delete(pid);
  }
}

function killGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false; // ESRCH: the group is empty
  }
}

/**
 * True while a process of the group still runs. A killed compiler's children can linger as
 * zombies until PID 1 reaps them (late on some VMs and init-less containers); they hold nothing,
 * so a group of zombies only counts as gone (read from /proc where there is one).
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  return !onlyZombiesLeft(pgid);
}

function onlyZombiesLeft(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return false; // no /proc: trust kill(0)
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …": comm may contain spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return false;
  }
  return true;
}

async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  if (!killGroup(pgid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await delay(20);
  if (groupAlive(pgid)) killGroup(pgid, 'SIGKILL');
  const hardDeadline = Date.now() + 2000;
  while (groupAlive(pgid) && Date.now() < hardDeadline) await delay(20);
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
