import http from 'node:http';
import type net from 'node:net';
import { rm } from 'node:fs/promises';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface CountingProxy {
  /** unix:///… or 127.0.0.1:PORT, whichever the proxy listens on. */
  address: string;
  /** Requests seen so far, e.g. "POST /v1.41/build". */
  readonly requests: string[];
  writes(): string[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy that forwards every request unchanged and remembers method + path: how the no-op
 * suite proves that nothing was written to the Docker engine or the registry.
 */
export async function countingProxy(options: { listen: { socketPath: string } | { port: 0 }; upstream: { socketPath: string } | { host: string; port: number } }): Promise<CountingProxy> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${(req.url ?? '').split('?')[0]}`);
    const upstream = http.request({ ...options.upstream, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(error));
    });
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = options.listen;
  if ('socketPath' in listen) await rm(listen.socketPath, { force: true });
  await new Promise<void>((resolve) => ('socketPath' in listen ? server.listen(listen.socketPath, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const address = 'socketPath' in listen ? `unix://${listen.socketPath}` : `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    address,
    requests,
    writes: () => requests.filter((r) => WRITE_METHODS.has(r.split(' ')[0]!)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if ('socketPath' in listen) await rm(listen.socketPath, { force: true });
    },
  };
}
