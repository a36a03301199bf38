import type { Readable } from 'node:stream';
import type { DockerClient } from './client.js';
import type { StageError } from '../../stages/stage.js';

/** One message of the Engine's JSON-lines progress stream (build and push share the shape). */
export interface ProgressMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Tag?: string; Digest?: string; Size?: number };
}

/**
 * Reads a progress stream to its end. Resolves `complete: false` when the connection dropped
 * before the end (daemon killed); rejects with the abort reason or what `onMessage` threw; in
 * every abnormal case destroys the stream, so the engine sees the client leave and cancels.
 */
export function followProgress(
  stream: Readable,
  onMessage: (message: ProgressMessage) => void,
  signal: AbortSignal,
  onActivity: () => void = () => {},
): Promise<{ complete: boolean }> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let settled = false;
    const finish = (error?: unknown, complete = true) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (error !== undefined || !complete) stream.destroy();
      if (error !== undefined) reject(error);
      else resolve({ complete });
    };
    const onAbort = () => finish(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    const handleLine = (line: string) => {
      if (!line.trim()) return;
      let message: ProgressMessage;
      try {
        message = JSON.parse(line) as ProgressMessage;
      } catch {
        message = { stream: line + '\n' };
      }
      onMessage(message);
    };
    stream.on('data', (chunk: Buffer) => {
      onActivity();
      buffer += chunk.toString('utf8');
      try {
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          handleLine(line);
        }
      } catch (error) {
        finish(error);
      }
    });
    stream.on('end', () => {
      try {
        handleLine(buffer);
      } catch (error) {
        return finish(error);
      }
      finish(undefined, (stream as { complete?: boolean }).complete !== false);
    });
    // A response whose connection dropped emits 'error'/'close' without 'end'.
    stream.on('error', () => finish(undefined, false));
    stream.on('close', () => finish(undefined, false));
  });
}

export interface LivenessOptions {
  /** Quiet this long → ping the engine. */
  silenceMs: number;
  pingMs: number;
  /** The error when the engine does not answer the ping. */
  dead(quietMs: number, cause: unknown): StageError;
  /** Optional: quiet this long even though the engine answers → give up (a stalled registry). */
  stallMs?: number;
  stalled?(quietMs: number): StageError;
}

/**
 * Watches a long operation: while it is quiet, pings the engine on a separate connection. A frozen
 * or dead engine fails two pings in a row (one slow answer from a busy engine is forgiven), and
 * `signal` aborts with a one-line cause. A healthy but silent build (a long RUN) keeps going.
 */
export class Liveness {
  private readonly controller = new AbortController();
  private last = Date.now();
  private pinging = false;
  private failures = 0;
  private readonly timer: NodeJS.Timeout;
  readonly signal = this.controller.signal;

  constructor(client: DockerClient, parent: AbortSignal, options: LivenessOptions) {
    this.timer = setInterval(() => {
      const quiet = Date.now() - this.last;
      if (this.controller.signal.aborted || parent.aborted) return this.stop();
      if (options.stallMs !== undefined && options.stalled && quiet >= options.stallMs) {
        return this.controller.abort(options.stalled(quiet));
      }
      if (this.pinging || quiet < options.silenceMs) return;
      this.pinging = true;
      client.ping(parent, options.pingMs).then(
        () => {
          this.pinging = false;
          this.failures = 0;
        },
        (error: unknown) => {
          this.pinging = false;
          if (++this.failures >= 2 && !parent.aborted) this.controller.abort(options.dead(Date.now() - this.last, error));
        },
      );
    }, Math.max(50, Math.floor(options.silenceMs / 2)));
  }

  touch(): void {
    this.last = Date.now();
    this.failures = 0;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
