import http from 'node:http';
import https from 'node:https';
import type { V1Pod } from '@kubernetes/client-node';
import type { LogStream } from '../types.js';
import type { KubeClient } from './client.js';

/**
 * Follows the logs of the pods that just became ready. Uses the kubeconfig's own transport
 * (agent with client certs / CA, auth headers from client-node) on a plain node:http request rather
 * than client-node's Log helper: aborting that helper emits an unhandled 'error' on its response
 * body, which would crash the extension host every time a rollout replaces the pods.
 */
export type LineSink = (text: string, stream: LogStream) => void;

/**
 * Pods whose logs are followed at once (one HTTP stream each). A 50-replica Deployment would
 * otherwise hold 50 open streams and flood the log; the first ones show what the code does.
 */
export const MAX_LOG_STREAMS = 10;
/** A line without a newline is passed on in pieces of this size rather than buffered whole. */
export const MAX_LINE_CHARS = 64 * 1024;

export class PodLogFollower {
  private requests = new Set<http.ClientRequest>();

  constructor(private readonly sink: LineSink) {}

  /** Replace whatever was followed before with these pods' `container` logs. */
  async follow(client: KubeClient, pods: V1Pod[], container: string, tailLines = 200): Promise<void> {
    this.stop();
    const prefixed = pods.length > 1;
    if (pods.length > MAX_LOG_STREAMS) this.sink(`following the logs of ${MAX_LOG_STREAMS} of ${pods.length} pods`, 'info');
    await Promise.all(
      pods.slice(0, MAX_LOG_STREAMS).map(async (pod) => {
        const name = pod.metadata!.name!;
        const ns = pod.metadata!.namespace!;
        const prefix = prefixed ? `[${name}] ` : '';
        const url = new URL(`${client.server}/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}/log`);
        url.searchParams.set('container', container);
        url.searchParams.set('follow', 'true');
        url.searchParams.set('tailLines', String(tailLines));
        try {
          await this.stream(client, url, (line) => this.sink(prefix + line, 'stdout'));
        } catch (err) {
          this.sink(`cannot follow the logs of ${name}: ${(err as Error).message}`, 'warn');
        }
      }),
    );
  }

  stop(): void {
    for (const req of this.requests) req.destroy();
    this.requests.clear();
  }

  /** Log streams open now. */
  get streams(): number {
    return this.requests.size;
  }

  /** Resolves once the stream is open (lines then flow until the pod's container stops or stop()). */
  private async stream(client: KubeClient, url: URL, onLine: (line: string) => void): Promise<void> {
    const init = await client.loaded.kc.applyToFetchOptions({});
    const headers: Record<string, string> = {};
    (init.headers as unknown as { forEach(fn: (v: string, k: string) => void): void }).forEach((v, k) => (headers[k] = v));
    const transport = url.protocol === 'https:' ? https : http;
    await new Promise<void>((resolve, reject) => {
      const req = transport.request(url, { method: 'GET', headers, agent: init.agent as http.Agent | undefined }, (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => reject(new Error(statusMessage(body) ?? `HTTP ${res.statusCode}`)));
          res.on('error', () => reject(new Error(`HTTP ${res.statusCode}`)));
          return;
        }
        resolve();
        let partial = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const lines = (partial + chunk).split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) onLine(l.replace(/\r$/, ''));
          while (partial.length >= MAX_LINE_CHARS) {
            onLine(partial.slice(0, MAX_LINE_CHARS));
            partial = partial.slice(MAX_LINE_CHARS);
          }
        });
        const flush = () => {
          if (partial) onLine(partial);
          partial = '';
          this.requests.delete(req);
        };
        res.on('end', flush);
        res.on('error', flush);
        res.on('close', flush);
      });
      req.on('error', (err) => {
        this.requests.delete(req);
        reject(err);
      });
      this.requests.add(req);
      req.end();
    });
  }
}

function statusMessage(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { message?: string }).message;
  } catch {
    return body.trim() || undefined;
  }
}
