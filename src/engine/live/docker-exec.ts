import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { ExecOpenError, type ExecSession, type ExecTransport } from './transport.js';

/**
 * Exec through the Docker Engine API (POST /containers/{id}/exec, then a hijacked attach): the
 * transport for Docker-only development and for the agent's real-container tests. Docker does
 * not tie stdin to the process's outputs the way containerd's CRI exec does, but the protocol
 * does not rely on either behaviour.
 */
export class DockerExecTransport implements ExecTransport {
  readonly target: string;

  constructor(
    private readonly docker: Docker,
    private readonly container: string,
  ) {
    this.target = `container ${container.slice(0, 12)}`;
  }

  async open(argv: string[]): Promise<ExecSession> {
    let exec: Docker.Exec;
    let stream: Duplex;
    try {
      exec = await this.docker.getContainer(this.container).exec({ Cmd: argv, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false });
      stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      // 409: the container is not running (stopped or restarting) — as good as gone for a sync.
      throw new ExecOpenError(status === 404 || status === 409 ? 'not-found' : 'other', (error as Error).message);
    }
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    this.docker.modem.demuxStream(stream, stdout, stderr);
    const ended = new Promise<{ exitCode?: number; message?: string }>((resolve) => {
      let settled = false;
      const settle = async (message?: string) => {
        if (settled) return;
        settled = true;
        stdout.end();
        stderr.end();
        try {
          const info = await exec.inspect();
          resolve({ ...(info.ExitCode !== null && !info.Running && { exitCode: info.ExitCode }), ...(message && { message }) });
        } catch {
          resolve(message ? { message } : {});
        }
      };
      stream.on('end', () => void settle());
      stream.on('close', () => void settle());
      stream.on('error', (error: Error) => void settle(error.message));
    });
    return { stdin: stream, stdout, stderr, ended, close: () => stream.destroy() };
  }
}
