import { createInterface } from 'node:readline';
import { PassThrough, type Readable } from 'node:stream';
import { formatDuration } from '../../../shared/format.js';
import { StageError } from '../../stages/stage.js';
import { DEFAULT_GRACE_MS } from '../process-groups.js';
import type { DockerClient } from '../../docker/daemon/client.js';
import type { LogStream } from '../../types.js';

export interface ExecSpec {
  command: string;
  /** Working directory inside the container. */
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  killGraceMs?: number;
}

const PID_LINE = /^@tightloop-pid (\d+)$/;
const TAIL_LINES = 20;

/**
 * Runs a shell command in the kept container through the Engine exec API with its output streamed
 * line by line. The exec'd shell is its own process group leader inside the container (runc makes
 * each exec a new session); it reports its PID first, so cancel and timeout can kill the whole
 * group from a second exec (TERM, then KILL after the grace period) and wait until it is gone.
 */
export async function execInContainer(
  client: DockerClient,
  containerId: string,
  spec: ExecSpec,
  signal: AbortSignal,
  onLine: (text: string, stream: LogStream) => void,
): Promise<{ exitCode: number; durationMs: number; pid?: number }> {
  const started = performance.now();
  const container = client.docker.getContainer(containerId);
  const exec = await client.api('create an exec', signal, () =>
    container.exec({
      Cmd: ['/bin/sh', '-c', 'echo "@tightloop-pid $$"; exec /bin/sh -c "$1"', 'sh', spec.command],
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: false,
      Tty: false,
      WorkingDir: spec.cwd,
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    }),
  );
  const stream = (await client.api('start the exec', signal, () => exec.start({ hijack: true, stdin: false }))) as Readable;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  client.docker.modem.demuxStream(stream, stdout, stderr);
  const ended = new Promise<void>((resolve) => {
    const done = () => {
      stdout.end();
      stderr.end();
      resolve();
    };
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
  });

  let pid: number | undefined;
  let pidKnown: () => void = () => {};
  const pidSeen = new Promise<void>((resolve) => (pidKnown = resolve));
  const tail: string[] = [];
  const pump = (from: PassThrough, kind: LogStream) =>
    new Promise<void>((resolve) => {
      const lines = createInterface({ input: from, crlfDelay: Infinity });
      lines.on('line', (line) => {
        const match = pid === undefined && kind === 'stdout' ? PID_LINE.exec(line) : null;
        if (match) {
          pid = Number(match[1]);
          pidKnown();
          return;
        }
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        onLine(line, kind);
      });
      lines.on('close', resolve);
    });
  const reading = Promise.all([pump(stdout, 'stdout'), pump(stderr, 'stderr')]);

  let timedOut = false as boolean; // set by the timeout callback
  let killing: Promise<void> | undefined;
  const stop = () => {
    killing ??= (async () => {
      await Promise.race([pidSeen, ended]);
      if (pid !== undefined) await killGroup(client, containerId, pid, spec.killGraceMs ?? DEFAULT_GRACE_MS);
    })();
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, spec.timeoutMs);
  signal.addEventListener('abort', stop, { once: true });
  if (signal.aborted) stop();
  try {
    await ended;
    await reading;
    if (killing) await killing;
    const info = await client.api('inspect the exec', new AbortController().signal, () => exec.inspect());
    if (timedOut) throw new StageError(`"${spec.command}" timed out after ${formatDuration(spec.timeoutMs)} in the build container and was stopped`, { evidence: tail, evidenceLogged: true });
    if (signal.aborted) throw new StageError('cancelled');
    const exitCode = info.ExitCode ?? -1;
    if (exitCode !== 0) throw new StageError(`"${spec.command}" exited with code ${exitCode} in the build container`, { evidence: tail, evidenceLogged: true });
    return { exitCode, durationMs: performance.now() - started, ...(pid !== undefined && { pid }) };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
  }
}

/** TERM to the process group inside the container, KILL after the grace period, until none is left. */
async function killGroup(client: DockerClient, containerId: string, pid: number, graceMs: number): Promise<void> {
  const run = (script: string) => runQuiet(client, containerId, script);
  await run(`kill -TERM -${pid} 2>/dev/null; true`);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if ((await run(`kill -0 -${pid} 2>/dev/null`)) !== 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  await run(`kill -KILL -${pid} 2>/dev/null; true`);
  for (let i = 0; i < 100 && (await run(`kill -0 -${pid} 2>/dev/null`)) === 0; i++) await new Promise((r) => setTimeout(r, 50));
}

/** A short helper exec (kill, probe): its exit code, output discarded. */
async function runQuiet(client: DockerClient, containerId: string, script: string): Promise<number> {
  const signal = new AbortController().signal;
  const exec = await client.api('create an exec', signal, () => client.docker.getContainer(containerId).exec({ Cmd: ['/bin/sh', '-c', script], AttachStdout: true, AttachStderr: true }));
  const stream = (await client.api('start an exec', signal, () => exec.start({ hijack: true, stdin: false }))) as Readable;
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
    stream.resume();
  });
  return (await client.api('inspect an exec', signal, () => exec.inspect())).ExitCode ?? -1;
}
