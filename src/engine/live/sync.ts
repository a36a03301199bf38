import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { applyFrame, fileHeader, parseAgentLine, preamble, PROTOCOL, RECEIVE_ARGV, type AgentDone, type AgentHello, type LiveAction } from './protocol.js';
import { ExecOpenError, type ExecTransport } from './transport.js';

/** One file to place in the container: read from `source` on this machine. */
export interface SyncFile {
  source: string;
  /** Absolute path in the container. */
  path: string;
  mode: number;
  size: number;
  sha256: string;
}

/** A SyncFile for a local file, hashed now (the agent verifies the bytes against this hash). */
export async function syncFileFrom(source: string, containerPath: string, mode?: number): Promise<SyncFile> {
  const info = await stat(source);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(source)) hash.update(chunk as Buffer);
  return { source, path: containerPath, mode: mode ?? info.mode & 0o7777, size: info.size, sha256: hash.digest('hex') };
}

/** What a successful live sync did. */
export interface LiveSyncResult {
  files: number;
  bytes: number;
  action: LiveAction['kind'];
  pid?: number;
  restartMs?: number;
  listenMs?: number;
  ports?: number[];
  /** The process did not listen within listenWaitMs (it may not listen at all). */
  notListeningAfterMs?: number;
  /** From the start until the exec session was open (the API server and kubelet had set up the stream). */
  openMs?: number;
  /** The agent's own time from its start until every file was in place (received, checked, renamed). */
  writeMs?: number;
  /** Wall time of the whole exchange, open to answer. */
  totalMs: number;
}

/**
 * Why a live sync did not happen or did not finish. Every code maps to a full-rollout fallback;
 * the message is the one sentence the user sees.
 *  no-agent          no agent in the container, or it is not the main process (image not built in live mode)
 *  exec-forbidden    the API refused exec (RBAC)
 *  gone              the container or pod is gone
 *  protocol-mismatch the agent speaks another sync protocol
 *  refused-path      a file lies outside the container's declared sync targets
 *  child-exited      files are in place but the restarted process exited (exitCode, tail)
 *  half-applied      some files were replaced, then a rename failed
 *  transport         the exec stream broke before the agent answered (nothing is known to be changed)
 *  failed            any other answer from the agent (checksum, io, busy…)
 */
export class LiveSyncError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: { exitCode?: number; signal?: number; tail?: string[]; pid?: number } = {},
  ) {
    super(message);
  }
}

/**
 * Streams `files` to `agent receive` in the container and applies `action`. Pipelined: frames go
 * out without waiting for the agent's hello; stdin stays open until the agent has answered
 * (ending it early closes a v4 exec stream, and containerd ties stdin to the process's outputs).
 */
export async function liveSync(
  transport: ExecTransport,
  files: readonly SyncFile[],
  action: LiveAction,
  options: { signal?: AbortSignal; protocol?: number } = {},
): Promise<LiveSyncResult> {
  const started = performance.now();
  let session;
  let openMs: number | undefined;
  try {
    session = await transport.open(RECEIVE_ARGV);
    openMs = performance.now() - started;
  } catch (error) {
    if (error instanceof ExecOpenError) {
      if (error.reason === 'forbidden') throw new LiveSyncError('exec-forbidden', `the API server forbids exec into ${transport.target} (${error.message}); live update needs the pods/exec permission (create)`);
      if (error.reason === 'not-found') throw new LiveSyncError('gone', `${transport.target} is gone (${error.message})`);
    }
    throw new LiveSyncError('transport', `cannot exec into ${transport.target}: ${(error as Error).message}`);
  }
  const onAbort = () => session.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const answer = collectAnswer(session.stdout, session.stderr);
    const sending = sendFrames(session.stdin, files, action, options.protocol ?? PROTOCOL).then(
      () => undefined,
      (error: Error) => error,
    );
    // A send that fails (a file vanished) leaves the agent waiting for bytes: stop waiting for it.
    const sendFailed = sending.then((error) => (error ? { sendError: error } : new Promise<never>(() => {})));
    const outcome = await Promise.race([answer.done, session.ended.then((end) => ({ ended: end })), sendFailed]);
    if ('sendError' in outcome) throw new LiveSyncError('transport', `sending files to ${transport.target} failed: ${outcome.sendError.message}; nothing was changed`);
    if (options.signal?.aborted) throw new LiveSyncError('cancelled', 'cancelled');
    if ('ended' in outcome) {
      // The stream may end just after the last line arrived: give the parser that line.
      const late = await Promise.race([answer.done, new Promise<undefined>((r) => setImmediate(() => r(undefined)))]);
      if (!late) throw noAnswer(transport.target, answer.hello, answer.output(), outcome.ended, await sending);
      return finish(late, answer.hello, transport.target, started, openMs);
    }
    return finish(outcome, answer.hello, transport.target, started, openMs);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    session.stdin.end();
    session.close();
  }
}

function finish(done: AgentDone, hello: AgentHello | undefined, target: string, started: number, openMs: number | undefined): LiveSyncResult {
  if (!done.ok) throw failure(done, hello, target);
  return {
    files: done.files ?? 0,
    bytes: done.bytes ?? 0,
    action: done.action ?? 'none',
    ...(done.pid !== undefined && { pid: done.pid }),
    ...(done.restartMs !== undefined && { restartMs: done.restartMs }),
    ...(done.listenMs !== undefined && { listenMs: done.listenMs }),
    ...(done.ports && { ports: done.ports }),
    ...(done.notListeningAfterMs !== undefined && { notListeningAfterMs: done.notListeningAfterMs }),
    ...(openMs !== undefined && { openMs }),
    ...(done.writeMs !== undefined && { writeMs: done.writeMs }),
    totalMs: performance.now() - started,
  };
}

function failure(done: AgentDone, hello: AgentHello | undefined, target: string): LiveSyncError {
  const details = { exitCode: done.exitCode, signal: done.signal, tail: done.tail, pid: done.pid };
  const code = done.code ?? 'failed';
  switch (code) {
    case 'no-supervisor':
      return new LiveSyncError('no-agent', `the Tightloop agent is in ${target} but is not its main process: ${done.message ?? ''}`.trim());
    case 'protocol-mismatch':
      return new LiveSyncError('protocol-mismatch', `the agent in ${target} speaks sync protocol ${hello?.protocol ?? done.protocol}, this Tightloop speaks ${PROTOCOL}`);
    case 'child-exited': {
      const how = done.signal !== undefined ? `was killed by signal ${done.signal}` : `exited with code ${done.exitCode}`;
      return new LiveSyncError('child-exited', `the new files are in place in ${target}, but the restarted process ${how}`, details);
    }
    default:
      return new LiveSyncError(code, `${target}: ${done.message ?? code}`, details);
  }
}

function noAnswer(target: string, hello: AgentHello | undefined, output: string, ended: { exitCode?: number; message?: string }, sendError: Error | undefined): LiveSyncError {
  const said = output.trim().split('\n').slice(-3).join(' / ');
  if (!hello) {
    // No hello: the agent never ran. Runtimes say so in different words (Docker: "no such file",
    // containerd: "executable file not found"); exit 126/127 is the shell convention for it.
    if (/no such file|not found|exit(?:ed)? (?:code|status) 12[67]/i.test(`${said} ${ended.message ?? ''}`) || ended.exitCode === 126 || ended.exitCode === 127) {
      return new LiveSyncError('no-agent', `${target} has no Tightloop agent (${RECEIVE_ARGV[0]}): its image was not built in live mode`);
    }
  }
  const detail = [ended.exitCode !== undefined && `exit code ${ended.exitCode}`, ended.message, sendError?.message, said && `output: ${said}`].filter(Boolean).join('; ');
  return new LiveSyncError('transport', `the exec stream into ${target} ended before the agent confirmed the sync${detail ? ` (${detail})` : ''}; nothing is known to be changed`);
}

/** Reads the agent's JSON lines; `done` settles with the final answer. */
function collectAnswer(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
  let buffer = '';
  let text = '';
  const result: { hello?: AgentHello; done: Promise<AgentDone>; output: () => string } = {
    done: new Promise<AgentDone>((resolve) => {
      stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          const message = parseAgentLine(line);
          if (!message) text += line + '\n';
          else if (message.type === 'hello') result.hello = message;
          else if (message.type === 'done') resolve(message);
        }
      });
    }),
    output: () => text + buffer,
  };
  stderr.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return result;
}

async function sendFrames(stdin: Writable, files: readonly SyncFile[], action: LiveAction, protocol: number): Promise<void> {
  const write = async (chunk: Buffer) => {
    if (!stdin.write(chunk)) await Promise.race([once(stdin, 'drain'), once(stdin, 'close')]);
  };
  await write(preamble(protocol));
  for (const file of files) {
    await write(fileHeader(file.path, file.mode, file.size, file.sha256));
    let sent = 0;
    for await (const chunk of createReadStream(file.source, { highWaterMark: 256 * 1024 })) {
      sent += (chunk as Buffer).length;
      // A file that grew since it was hashed must not overrun its frame; the agent's checksum
      // check rejects any other change.
      await write(sent > file.size ? (chunk as Buffer).subarray(0, (chunk as Buffer).length - (sent - file.size)) : (chunk as Buffer));
      if (sent >= file.size) break;
    }
    if (sent < file.size) throw new Error(`${file.source} shrank from ${file.size} to ${sent} bytes while it was sent`);
  }
  await write(applyFrame(action));
}
