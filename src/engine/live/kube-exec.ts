import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { PassThrough } from 'node:stream';
import { ExecOpenError, type ExecSession, type ExecTransport } from './transport.js';

/**
 * Exec through the Kubernetes API (pods/exec, websocket channel protocol) with client-node's
 * Exec, which negotiates v5.channel.k8s.io (stdin can be ended on its own) and falls back to v4.
 * The sync protocol keeps stdin open until the agent has answered, so both behave the same.
 */
export class KubeExecTransport implements ExecTransport {
  readonly target: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
    private readonly pod: string,
    private readonly container: string,
  ) {
    this.target = `pod ${namespace}/${pod} (${container})`;
  }

  async open(argv: string[]): Promise<ExecSession> {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let status: V1Status | undefined;
    let ws;
    try {
      ws = await new Exec(this.kc).exec(this.namespace, this.pod, this.container, argv, stdout, stderr, stdin, false, (s) => (status = s));
    } catch (error) {
      const message = errorText(error);
      // The ws library reports a refused upgrade as "Unexpected server response: 403".
      const code = /\b(40[134])\b/.exec(message)?.[1];
      // Say it as the API server's answer, not as the websocket library's.
      const said = code ? `HTTP ${code}${code === '403' ? ' Forbidden' : code === '404' ? ' Not Found' : ' Unauthorized'}` : message;
      throw new ExecOpenError(code === '403' ? 'forbidden' : code === '404' ? 'not-found' : 'other', said);
    }
    const ended = new Promise<{ exitCode?: number; message?: string }>((resolve) => {
      ws.on('close', () => {
        if (!stdout.writableEnded) stdout.end();
        if (!stderr.writableEnded) stderr.end();
        resolve(statusToExit(status));
      });
    });
    return {
      stdin,
      stdout,
      stderr,
      ended,
      close: () => ws.close(),
    };
  }
}

function statusToExit(status: V1Status | undefined): { exitCode?: number; message?: string } {
  if (!status) return {};
  if (status.status === 'Success') return { exitCode: 0 };
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  return { ...(cause?.message && { exitCode: Number(cause.message) }), ...(status.message && { message: status.message }) };
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  const e = error as { message?: string; error?: { message?: string } } | null | undefined;
  return e?.message ?? e?.error?.message ?? String(error);
}
