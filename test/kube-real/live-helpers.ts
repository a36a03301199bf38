import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { PortForward, type KubeConfig } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';
import { createDockerStages } from '../../src/engine/docker/index.js';
import type { Engine } from '../../src/engine/engine.js';
import { KubeClient } from '../../src/engine/kube/client.js';
import { contextAllowed, createKubeStages, loadKubeConfig } from '../../src/engine/kube/index.js';
import { DEFAULT_ALLOW } from '../kube/helpers.js';

/**
 * What the opt-in real-cluster live suite (test/kube-real/live.test.ts) and the live bench on a
 * real cluster (bench/suites/live.ts) share: the FROM scratch static test server's Deployment, the
 * service config that builds it in live mode, the engine's stages, the local-cluster check, and a
 * GET to a pod through the API server's port-forward.
 */

/** Where the engine pushes; the cluster's nodes must be able to pull from it. */
export const E2E_REGISTRY = process.env.TIGHTLOOP_E2E_REGISTRY ?? '127.0.0.1:5000';
/** The port the test server listens on inside its pod. */
export const LIVE_PORT = 8080;

/** 2 replicas of the test server (image set by the engine), readiness probe every 1 s. */
export function liveManifest(repository: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: api, labels: { app: api } }
spec:
  replicas: 2
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: api
          image: ${repository}:placeholder
          args: ["${LIVE_PORT}", "0.0.0.0"]
          ports: [{ containerPort: ${LIVE_PORT} }]
          readinessProbe: { httpGet: { path: /, port: ${LIVE_PORT} }, periodSeconds: 1 }
`;
}

/**
 * tightloop.yaml for the service `api`: src/server (the test server) and src/settings.txt are
 * compiled (copied) and staged; only the server is covered by live.sync, so a save that changes
 * settings.txt takes the full path. The Deployment comes from k8s/ (liveManifest).
 */
export function liveConfig(o: { kubeconfig: string; context: string; namespace: string; repository: string; watch?: boolean }): string {
  return `version: 1
kubernetes: { kubeconfig: ${o.kubeconfig}, context: ${o.context}, allowContexts: [${o.context}], namespace: ${o.namespace} }
docker: { delivery: push, registry: ${E2E_REGISTRY} }
services:
  api:
${o.watch ? '    watch: { paths: [src] }\n' : ''}    compile: { command: "mkdir -p out && cp src/server out/server && cp src/settings.txt out/settings.txt" }
    stage: { dir: staged, files: [{ from: out/server, to: server }, { from: out/settings.txt, to: settings.txt }] }
    image: { repository: ${o.repository} }
    deploy: { manifests: [k8s], workload: deployment/api, readyTimeout: 3m }
    live: { sync: [{ from: server, to: /server }], action: restart }
`;
}

/** The engine's Kubernetes and Docker stages (generous API timeouts for a real cluster). */
export const liveStages: NonNullable<Parameters<typeof Engine.start>[1]>['stages'] = (c) => {
  const kube = createKubeStages(c, { env: {}, homeDir: tmpdir(), requestTimeoutMs: 30_000 });
  const docker = createDockerStages(c, { cluster: kube.cluster });
  return { ...kube, image: docker.image, push: docker.push, dispose: async () => void (await Promise.all([kube.dispose(), docker.dispose()])) };
};

/**
 * An admin client for the cluster TIGHTLOOP_E2E_KUBECONFIG names (TIGHTLOOP_E2E_CONTEXT or its
 * current context); refuses a context that does not look like a local cluster unless
 * TIGHTLOOP_E2E_ALLOW_ANY_CONTEXT=1, since namespaces are created and deleted in it.
 */
export function localClusterAdmin(kubeconfig: string): { admin: KubeClient; context: string } {
  const loaded = loadKubeConfig({ kubeconfig, context: process.env.TIGHTLOOP_E2E_CONTEXT, allowContexts: [], namespace: 'default' }, process.cwd());
  if (!contextAllowed(loaded.context, DEFAULT_ALLOW) && process.env.TIGHTLOOP_E2E_ALLOW_ANY_CONTEXT !== '1') {
    throw new Error(`context ${loaded.context} does not look like a local cluster; set TIGHTLOOP_E2E_ALLOW_ANY_CONTEXT=1 to run against it anyway`);
  }
  return { admin: new KubeClient(loaded, 30_000), context: loaded.context };
}

/**
 * One HTTP GET to a pod's port through the API server's port-forward (what `kubectl port-forward`
 * does): the body of the answer. The test server answers with Content-Length; the forward is
 * closed once that many bytes arrived.
 */
export async function podGet(kc: KubeConfig, namespace: string, pod: string, port: number, pathname: string): Promise<string> {
  const input = new PassThrough();
  const output = new PassThrough();
  let received = Buffer.alloc(0);
  let timer: NodeJS.Timeout | undefined;
  const answer = new Promise<string>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from ${pod}:${port}${pathname} within 20 s`)), 20_000);
    output.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(received.subarray(0, end).toString())?.[1] ?? NaN);
      if (received.length - end - 4 >= length) resolve(received.subarray(end + 4, end + 4 + length).toString());
    });
  });
  const ws = (await new PortForward(kc).portForward(namespace, pod, [port], output, null, input)) as WebSocket;
  const closed = new Promise<never>((_, reject) => ws.on('close', () => reject(new Error(`the port-forward to ${pod}:${port} closed before a whole answer (got ${JSON.stringify(received.toString())})`))));
  closed.catch(() => {});
  answer.catch(() => {});
  input.write(`GET ${pathname} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  try {
    return await Promise.race([answer, closed]);
  } finally {
    clearTimeout(timer);
    ws.close();
  }
}
