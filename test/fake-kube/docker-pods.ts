import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Duplex } from 'node:stream';
import type net from 'node:net';
import type { PodRuntime } from './cluster.js';
import type { FakeExec } from './exec.js';
import type { KObj } from './store.js';

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { containerPort: number }[];
}

/**
 * A container runtime for the fake kubelet: each pod's container runs for real on the Docker
 * engine (the image pulled from the registry the pod names, `--network none` — a network
 * namespace of its own, like a pod's), so a pod serves exactly what its image holds. Exec goes
 * to `docker exec -i`; port-forward enters the pod's network namespace (`nsenter -n` + busybox nc,
 * as the kubelet's port-forward dials localhost inside the pod). Ready means the container
 * listens on its declared port (read from the namespace's /proc/PID/net/tcp{,6}).
 */
export class DockerPodRuntime implements PodRuntime {
  private readonly pods = new Map<string, { id: string; pid: number }>();

  constructor(private readonly exec: FakeExec) {}

  async start(pod: KObj, c: Container): Promise<void> {
    const uid = pod.metadata.uid as string;
    const env = (c.env ?? []).flatMap((e) => ['-e', `${e.name}=${e.value ?? ''}`]);
    const expand = (s: string) => s.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string) => c.env?.find((e) => e.name === name)?.value ?? all);
    const entrypoint = c.command?.length ? ['--entrypoint', expand(c.command[0]!)] : [];
    const args = [...(c.command?.slice(1) ?? []), ...(c.args ?? [])].map(expand);
    const name = `tl-fake-pod-${uid.slice(0, 12)}`;
    const id = (await docker(['run', '-d', '--network', 'none', '--name', name, '--label', 'tightloop-fake-pod=1', ...env, ...entrypoint, c.image, ...args])).trim();
    const pid = Number((await docker(['inspect', '-f', '{{.State.Pid}}', id])).trim());
    this.pods.set(uid, { id, pid });
    this.exec.backends.set(`${pod.metadata.namespace}/${pod.metadata.name}`, (_pod, _container, command) => spawn('docker', ['exec', '-i', id, ...command], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const port = c.ports?.[0]?.containerPort;
    if (port === undefined) return;
    // Listening is a state of the pod's network namespace: wait for it (the readiness probe's job).
    for (;;) {
      if (!this.pods.has(uid)) throw new Error(`pod ${pod.metadata.name} was deleted while starting`);
      if (await listening(pid, port)) return;
      const state = (await docker(['inspect', '-f', '{{.State.Status}}', id]).catch(() => 'gone')).trim();
      if (state !== 'running') throw new Error(`container ${c.name} ${state} before it listened on ${port}: ${(await docker(['logs', id]).catch(() => '')).trim()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop(pod: KObj): void {
    const uid = pod.metadata.uid as string;
    const running = this.pods.get(uid);
    this.pods.delete(uid);
    this.exec.backends.delete(`${pod.metadata.namespace}/${pod.metadata.name}`);
    if (running) void docker(['rm', '-f', running.id]).catch(() => {});
  }

  connect(pod: KObj, port: number): net.Socket | undefined {
    const running = this.pods.get(pod.metadata.uid as string);
    if (!running) return undefined;
    const nc = spawn('nsenter', ['-t', String(running.pid), '-n', 'busybox', 'nc', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'ignore'] });
    // Bytes in go to nc's stdin (an EPIPE once nc is done is no error of the stream); bytes out end
    // with nc's stdout, after its last bytes.
    nc.stdin.on('error', () => {});
    const socket = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        if (nc.stdin.writable) nc.stdin.write(chunk);
        done();
      },
      final(done) {
        nc.stdin.end();
        done();
      },
    });
    nc.stdout.on('data', (d: Buffer) => socket.push(d));
    nc.stdout.on('end', () => socket.push(null));
    return socket as unknown as net.Socket;
  }

  /** Removes every container it started. */
  async close(): Promise<void> {
    const ids = [...this.pods.values()].map((p) => p.id);
    this.pods.clear();
    if (ids.length) await docker(['rm', '-f', ...ids]).catch(() => {});
  }
}

function docker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('docker', args, { maxBuffer: 16 << 20 }, (error, stdout, stderr) => (error ? reject(new Error(`docker ${args[0]}: ${stderr.trim() || error.message}`)) : resolve(stdout))),
  );
}

/** Whether a socket in PID's network namespace listens on `port` (TCP, v4 or v6). */
async function listening(pid: number, port: number): Promise<boolean> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    // local_address is "ADDR:PORT", st 0A is LISTEN.
    if (text.split('\n').some((line) => new RegExp(`^\\s*\\d+: [0-9A-F]+:${hex} [0-9A-F]+:[0-9A-F]+ 0A `).test(line))) return true;
  }
  return false;
}
