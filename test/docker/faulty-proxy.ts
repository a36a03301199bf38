import http from 'node:http';
import type net from 'node:net';

/** How one matching request fails: an HTTP status from the "registry", or a connection cut mid-request. */
export type Fault = { status: number } | 'reset' | 'hang';

export interface FaultRule {
  /** e.g. (method, path) => method === 'PUT' && path.includes('/manifests/') */
  match(method: string, path: string): boolean;
  fault: Fault;
  /** How many matching requests fail before the rest pass (Infinity: every one). */
  times: number;
}

export interface FaultyProxy {
  address: string;
  /** Every request seen, "METHOD /path", with " !" appended when it was failed on purpose. */
  readonly requests: string[];
  /** How many requests a rule has failed so far. */
  failed(rule: FaultRule): number;
  close(): Promise<void>;
}

/**
 * A loopback proxy in front of the real registry that fails chosen requests (a 5xx reply, or the
 * socket destroyed before any answer) and forwards the rest unchanged: how the retry tests make a
 * registry that is flaky, then healthy, or broken for good.
 */
export async function faultyProxy(upstream: { host: string; port: number }, rules: FaultRule[]): Promise<FaultyProxy> {
  const requests: string[] = [];
  const counts = new Map<FaultRule, number>();
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '').split('?')[0]!;
    const rule = rules.find((r) => (counts.get(r) ?? 0) < r.times && r.match(method, path));
    if (rule) {
      counts.set(rule, (counts.get(rule) ?? 0) + 1);
      requests.push(`${method} ${path} !`);
      if (rule.fault === 'reset') {
        req.socket.destroy();
        return;
      }
      if (rule.fault === 'hang') return; // never answered: a registry that stopped responding
      req.resume();
      req.on('end', () => {
        res.writeHead(typeof rule.fault === 'object' ? rule.fault.status : 500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected by the test proxy' }] }));
      });
      return;
    }
    requests.push(`${method} ${path}`);
    const forward = http.request({ ...upstream, method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(error));
    });
    req.pipe(forward);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    requests,
    failed: (rule) => counts.get(rule) ?? 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
