import net from 'node:net';
import { Writable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';
import { describeApiError, type KubeClient } from './client.js';
import type { LineSink } from './pod-logs.js';
import { isPodReady } from './rollout.js';

/**
 * A local port on 127.0.0.1 forwarded to a port of the workload's pods. The pod is chosen per
 * incoming connection (a Ready, non-terminating pod, newest first), so after a rollout new
 * connections reach the new pod with no restart of the forward — it follows the workload.
 * Each connection is one client-node PortForward WebSocket.
 */

/**
 * Connections open at once per forwarded port (each one a WebSocket to the API server). Past it
 * new connections are refused by the listener, so a client in a reconnect loop cannot pile up
 * sockets in the extension host.
 */
export const MAX_FORWARD_CONNECTIONS = 64;

export interface ForwardTarget {
  namespace: string;
  /** Pod label selector of the workload. */
  selector: string;
  /** e.g. deployment/api, for messages. */
  label: string;
}

export class PortForwarder {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private client: KubeClient,
    private target: ForwardTarget,
    readonly local: number,
    readonly remote: number,
    private readonly sink: LineSink,
  ) {}

  /** Point new connections at a (possibly re-loaded) client / target. */
  retarget(client: KubeClient, target: ForwardTarget): void {
    this.client = client;
    this.target = target;
  }

  async start(): Promise<void> {
    const server = net.createServer((socket) => void this.connection(socket));
    server.maxConnections = MAX_FORWARD_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.local, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.sink(`port-forward 127.0.0.1:${this.local}: ${err.message}`, 'warn'));
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  private async connection(socket: net.Socket): Promise<void> {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const { client, target } = this;
    let pod: V1Pod | undefined;
    try {
      pod = await this.pickPod(client, target);
    } catch (err) {
      this.sink(`port-forward ${this.local}: cannot list the pods of ${target.label}: ${describeApiError(err)}`, 'warn');
    }
    if (!pod) {
      if (!socket.destroyed) this.sink(`port-forward ${this.local}: no ready pod of ${target.label} to connect to`, 'warn');
      socket.destroy();
      return;
    }
    const name = pod.metadata!.name!;
    // Channel 1 carries the kubelet's error text (after the 2-byte port header client-node strips).
    const errors = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        if (chunk.length) {
          this.sink(`port-forward ${this.local} → ${name}:${this.remote}: ${chunk.toString().trim()}`, 'warn');
          socket.destroy();
        }
        done();
      },
    });
    try {
      const ws = (await client.portForward.portForward(target.namespace, name, [this.remote], socket, errors, socket)) as WebSocket;
      ws.on('close', () => socket.end());
      ws.on('error', () => socket.destroy());
      socket.on('close', () => ws.close());
      if (socket.destroyed) ws.close();
    } catch (err) {
      this.sink(`port-forward ${this.local} → ${name}:${this.remote} failed: ${(err as { message?: string } | null | undefined)?.message ?? String(err)}`, 'warn');
      socket.destroy();
    }
  }

  private async pickPod(client: KubeClient, target: ForwardTarget): Promise<V1Pod | undefined> {
    const list = await client.core.listNamespacedPod({ namespace: target.namespace, labelSelector: target.selector }, client.options(undefined, {}, 5000));
    const time = (p: V1Pod) => new Date((p.metadata?.creationTimestamp ?? 0) as string | Date).getTime();
    return list.items
      .filter((p) => isPodReady(p) && !p.metadata?.deletionTimestamp)
      .sort((a, b) => time(b) - time(a))[0];
  }
}
