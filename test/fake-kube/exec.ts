import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import { WebSocketServer, type WebSocket } from 'ws';
import type { KObj } from './store.js';

/**
 * The API server's pod exec endpoint (GET /api/v1/namespaces/{ns}/pods/{name}/exec, upgraded to
 * a websocket) backed by real local processes. Speaks the channel protocol the kubelet speaks:
 * each message starts with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 status (a v1 Status
 * as JSON when the process ends), 4 resize; v5.channel.k8s.io adds 255 "close this channel" so a
 * client can end stdin without closing the socket (with v4, ending stdin closes the socket).
 *
 * Like containerd's CRI exec (1.6, 2.x), stdin is cut as soon as the process closes its stdout or
 * stderr (`cutStdinOnOutputClose`, on by default): a receiver that closes an output early loses
 * the rest of its input, as on a real cluster.
 */

/** Starts the command in the pod's container: a running process, or why it could not start. */
export type ExecBackend = (pod: KObj, container: string, command: string[]) => ChildProcess | { error: string };

const V5 = 'v5.channel.k8s.io';
const V4 = 'v4.channel.k8s.io';

export class FakeExec {
  /** Backends per "namespace/pod"; a pod without one answers like a container lacking the binary. */
  readonly backends = new Map<string, ExecBackend>();
  /** RBAC: refuse create on pods/exec (403) as an API server does for a user without it. */
  forbidden = false;
  /** Subprotocols this server accepts, best first (an older API server: only v4). */
  protocols: string[] = [V5, V4];
  cutStdinOnOutputClose = true;
  /** Sessions currently open. */
  open = 0;
  private readonly wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => this.protocols.find((p) => offered.has(p)) ?? false });

  /** `refused`: the API server's RBAC message when the user may not create pods/exec. */
  upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, url: URL, namespace: string, pod: KObj | undefined, user: string, refused?: string): void {
    const name = url.pathname.split('/')[6]!;
    const status = (code: number, reason: string, message: string) => {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details: { name, kind: 'pods' }, code });
      socket.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    if (refused) return status(403, 'Forbidden', refused);
    if (this.forbidden) {
      return status(403, 'Forbidden', `pods "${name}" is forbidden: User "${user}" cannot create resource "pods/exec" in API group "" in the namespace "${namespace}"`);
    }
    if (!pod) return status(404, 'NotFound', `pods "${name}" not found`);
    const command = url.searchParams.getAll('command');
    if (command.length === 0) return status(400, 'BadRequest', 'you must specify at least 1 command');
    const containers = ((pod.spec as { containers?: { name: string }[] } | undefined)?.containers ?? []).map((c) => c.name);
    const container = url.searchParams.get('container') ?? (containers.length === 1 ? containers[0]! : '');
    if (!containers.includes(container)) {
      return status(400, 'BadRequest', container ? `container ${container} is not valid for pod ${name}` : `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.session(ws, pod, container, command, url.searchParams.get('stdin') === 'true'));
  }

  /** POST .../selfsubjectaccessreviews: pods/exec follows `forbidden`; everything follows the user's RBAC (`allowed`). */
  accessReview(res: http.ServerResponse, body: string, allowed: (a: { verb: string; group?: string; resource: string; subresource?: string; namespace?: string; name?: string }) => boolean = () => true): void {
    const review = JSON.parse(body || '{}') as { spec?: { resourceAttributes?: { verb?: string; group?: string; resource?: string; subresource?: string; namespace?: string; name?: string } } };
    const a = review.spec?.resourceAttributes ?? {};
    const denied = (this.forbidden && a.resource === 'pods' && a.subresource === 'exec' && a.verb === 'create') || !allowed({ ...a, verb: a.verb ?? '', resource: a.resource ?? '' });
    const text = JSON.stringify({ ...review, kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: {}, status: denied ? { allowed: false, reason: 'no RBAC policy matched' } : { allowed: true, reason: 'RBAC: allowed' } });
    res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private session(ws: WebSocket, pod: KObj, container: string, command: string[], wantStdin: boolean): void {
    this.open++;
    ws.on('close', () => this.open--);
    const send = (channel: number, data: Buffer | string) => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.isBuffer(data) ? data : Buffer.from(data)]));
    };
    const finish = (status: object) => {
      send(3, JSON.stringify({ metadata: {}, ...status }));
      ws.close(1000);
    };
    const backend = this.backends.get(`${pod.metadata.namespace}/${pod.metadata.name}`);
    const started = backend ? backend(pod, container, command) : { error: `exec: "${command[0]}": stat ${command[0]}: no such file or directory` };
    if ('error' in started) {
      // What containerd reports for a binary the image lacks (the kubelet sends it as the status).
      return finish({ status: 'Failure', message: `OCI runtime exec failed: exec failed: unable to start container process: ${started.error}: unknown`, reason: 'InternalError' });
    }
    const child = started;
    let stdinOpen = wantStdin;
    const cutStdin = () => {
      if (!stdinOpen) return;
      stdinOpen = false;
      child.stdin?.end();
    };
    child.stdin?.on('error', () => {}); // EPIPE after the process is gone
    if (!wantStdin) child.stdin?.end();
    ws.on('message', (data: Buffer) => {
      if (data.length < 1) return;
      const channel = data[0];
      if (channel === 0 && stdinOpen) child.stdin?.write(data.subarray(1));
      else if (channel === 255 && ws.protocol === V5 && data[1] === 0) cutStdin();
    });
    // v4 has no close signal: a client that is done with stdin closes the socket.
    ws.on('close', cutStdin);
    child.stdout?.on('data', (d: Buffer) => send(1, d));
    child.stderr?.on('data', (d: Buffer) => send(2, d));
    if (this.cutStdinOnOutputClose) {
      child.stdout?.on('end', cutStdin);
      child.stderr?.on('end', cutStdin);
    }
    child.on('error', (error) => finish({ status: 'Failure', message: error.message, reason: 'InternalError' }));
    child.on('close', (code, signal) => {
      if (code === 0) return finish({ status: 'Success' });
      const exit = code ?? 128 + (signal ? os.constants.signals[signal] : 0);
      finish({
        status: 'Failure',
        message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exit}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(exit) }] },
      });
    });
  }
}
