import type { Readable, Writable } from 'node:stream';

/**
 * A process started inside a running container: Docker's exec API or the Kubernetes exec
 * websocket. The live sync only needs stdin, stdout and an end.
 */
export interface ExecSession {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Settles when the session is over; the exit code when the transport could tell it. */
  ended: Promise<{ exitCode?: number; message?: string }>;
  /** Tears the session down at once. */
  close(): void;
}

export interface ExecTransport {
  /** Where the process runs, for messages: "container abc123", "pod default/api-7d9 (app)". */
  readonly target: string;
  open(argv: string[]): Promise<ExecSession>;
}

/**
 * Why a transport could not start the process at all. `forbidden`: the API refused exec (RBAC);
 * `not-found`: the container or pod is gone; `other`: anything else.
 */
export class ExecOpenError extends Error {
  constructor(
    readonly reason: 'forbidden' | 'not-found' | 'other',
    message: string,
  ) {
    super(message);
  }
}
