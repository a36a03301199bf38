/**
 * `node --import tsx bench/with-fake-cluster.ts COMMAND [ARGS…]`
 *
 * Runs COMMAND (e.g. `npm run bench -- --only live`) with TIGHTLOOP_E2E_KUBECONFIG pointing at a
 * fake Kubernetes API server (test/fake-kube) that stands in for a real cluster: its pods run their
 * images for real on the Docker engine (DockerPodRuntime: pulled from the registry, own network
 * namespace, exec = docker exec, port-forward into the namespace), on REAL_TIMING (container start
 * ~0.4 s plus the readiness probe on the kubelet's grid). It exercises the bench's real-cluster paths
 * where no cluster exists; the figures are not a real cluster's. Needs the services
 * (`bash scripts/services.sh start`); TIGHTLOOP_E2E_REGISTRY defaults to 127.0.0.1:5000.
 */
import { execFile, spawn } from 'node:child_process';
import { REAL_TIMING } from '../test/fake-kube/cluster.js';
import { DockerPodRuntime } from '../test/fake-kube/docker-pods.js';
import { FakeKubeServer } from '../test/fake-kube/server.js';

async function main(): Promise<number> {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    process.stderr.write('usage: node --import tsx bench/with-fake-cluster.ts COMMAND [ARGS…]\n');
    return 2;
  }
  const fake = await FakeKubeServer.start();
  const runtime = new DockerPodRuntime(fake.exec);
  fake.cluster.runtime = runtime;
  // The images its pods pulled into the local engine (the bench's cleanup runs while they still run).
  const pulled = new Set<string>();
  const start = runtime.start.bind(runtime);
  runtime.start = (pod, c) => {
    pulled.add(c.image);
    return start(pod, c);
  };
  fake.cluster.timing = { ...REAL_TIMING };
  process.stderr.write(`fake cluster (pods on Docker, REAL_TIMING) at ${fake.url}, kubeconfig ${fake.kubeconfigPath}\n`);
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TIGHTLOOP_E2E_KUBECONFIG: fake.kubeconfigPath,
      TIGHTLOOP_E2E_REGISTRY: process.env.TIGHTLOOP_E2E_REGISTRY ?? '127.0.0.1:5000',
      // Reports name the cluster for what it is.
      TIGHTLOOP_BENCH_CLUSTER_LABEL: 'fake API server standing in for a real cluster, pods on Docker (bench/with-fake-cluster.ts)',
    };
    // The fake's own context (kind-fake) passes the local-cluster check, as kind's would.
    delete env.TIGHTLOOP_E2E_CONTEXT;
    const child = spawn(command, args, { stdio: 'inherit', env });
    // Ctrl-C reaches the child (same process group); this process waits for it to clean up.
    process.on('SIGINT', () => {});
    return await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    await runtime.close();
    await fake.close();
    if (pulled.size) await new Promise((resolve) => execFile('docker', ['rmi', ...pulled], resolve));
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`with-fake-cluster: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
