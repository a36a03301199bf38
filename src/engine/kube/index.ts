import type { ResolvedConfig } from '../config/resolved.js';
import type { ClusterFacts, ClusterFactsProvider, StageContext, StageSet } from '../stages/stage.js';
import type { LogLine, PodSummary } from '../types.js';
import { KubeClient } from './client.js';
import { createDeployStage } from './deploy-stage.js';
import { createKubeDoctorChecks } from './doctor.js';
import { readClusterFacts } from './facts.js';
import { ServiceFollowers } from './followers.js';
import { contextAllowed, loadKubeConfig, refusedContextError } from './kubeconfig.js';
import { createReadyStage } from './ready-stage.js';
import { byDeploySource } from './manifests/by-source.js';
import { createManifestDeployStage } from './manifests/deploy-stage.js';
import { createManifestReadyStage } from './manifests/ready-stage.js';
import { createManifestDoctorChecks } from './manifests/doctor.js';
import { createTeardown } from './manifests/down.js';
import { summarizePod, type Baseline } from './rollout.js';
import type { RetryPolicy } from './list-watch.js';
import { DEFAULT_RETRY, type RetryPolicy as ApiRetryPolicy } from '../retry.js';
import { createLiveStage } from '../live/live-stage.js';
import { createKubePodWatcher } from '../live/kube-pod-watch.js';

/**
 * The Kubernetes integration: deploy + ready stages, cluster facts for the image stages, doctor
 * checks, and the followers (pod logs, port-forwards) that live until dispose().
 *
 * The kubeconfig is re-read for every run, like kubectl, so `kubectl config use-context` takes
 * effect on the next run (and the allow-list is checked against the context actually used).
 */

export interface KubeStagesOptions {
  /** Where pod log lines go after ready (stage "pod"); default: the ready stage's ctx.log. */
  logSink?(line: LogLine): void;
  /** Where the ready pods of a service are reported (readiness, restarts). */
  podSink?(service: string, pods: PodSummary[]): void;
  /** Environment for KUBECONFIG and the home folder (tests); default: the process's. */
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** Per-request deadline for API calls (watches excepted). Default 15 s. */
  requestTimeoutMs?: number;
  /** How often a dropped watch is retried before ready fails. Default 5 attempts from 150 ms, doubling. */
  watchRetry?: RetryPolicy;
  /** Retries of transient API failures during deploy (default: 3, from 250 ms doubling, at most 4 s apart). */
  retry?: Partial<ApiRetryPolicy>;
  /** How long cluster facts are cached. Default 60 s. */
  factsTtlMs?: number;
}

export type KubeStages = Pick<StageSet, 'live' | 'deploy' | 'ready' | 'cluster' | 'refuseContext' | 'doctor' | 'teardown' | 'livePods'> & { dispose(): Promise<void> };

export function createKubeStages(config: ResolvedConfig, opts: KubeStagesOptions = {}): KubeStages {
  const where = { ...(opts.env && { env: opts.env }), ...(opts.homeDir && { homeDir: opts.homeDir }) };
  const clientFor = (c: ResolvedConfig) => new KubeClient(loadKubeConfig(c.kubernetes, c.root, where), opts.requestTimeoutMs, { ...DEFAULT_RETRY, ...opts.retry });
  const followers = new Map<string, ServiceFollowers>();
  const latestCtx = new Map<string, StageContext>();

  const shared = {
    client: (ctx: StageContext) => clientFor(ctx.config),
    afterReady: (ctx: StageContext, client: KubeClient, b: Baseline, pods: Parameters<ServiceFollowers['update']>[3]) => {
      const service = ctx.service;
      // Without a sink, lines go to the log of the latest ready stage of this service.
      latestCtx.set(service.name, ctx);
      let f = followers.get(service.name);
      if (!f) {
        const sink = opts.logSink;
        f = new ServiceFollowers((text, stream) => {
          const last = latestCtx.get(service.name)!;
          if (sink) sink({ service: service.name, runId: last.runId, stage: 'pod', stream, text, time: Date.now() });
          else last.log(text, stream);
        });
        followers.set(service.name, f);
      }
      opts.podSink?.(service.name, pods.map(summarizePod));
      f.update(service, client, b, pods).catch((err: Error) => ctx.log(`log streaming / port-forward: ${err.message}`, 'warn'));
    },
    ...(opts.watchRetry && { watchRetry: opts.watchRetry }),
  };

  const ttl = opts.factsTtlMs ?? 60_000;
  let cached: { key: string; at: number; facts: Promise<ClusterFacts> } | undefined;
  const cluster: ClusterFactsProvider = {
    facts(signal) {
      const client = clientFor(config);
      const k = `${client.context}\u0000${client.server}`;
      if (!cached || cached.key !== k || Date.now() - cached.at > ttl) {
        const facts = readClusterFacts(client, signal);
        cached = { key: k, at: Date.now(), facts };
        // A failed read is not cached: the next run asks again.
        facts.catch(() => {
          if (cached?.facts === facts) cached = undefined;
        });
      }
      return cached.facts;
    },
  };

  return {
    live: createLiveStage(shared),
    deploy: byDeploySource(createManifestDeployStage(shared), createDeployStage(shared)),
    ready: byDeploySource(createManifestReadyStage(shared), createReadyStage(shared)),
    cluster,
    refuseContext() {
      let context: string;
      try {
        context = loadKubeConfig(config.kubernetes, config.root, where).context;
      } catch {
        return undefined; // no usable kubeconfig: the deploy stage reports why
      }
      const allowed = config.kubernetes.allowContexts;
      return contextAllowed(context, allowed) ? undefined : refusedContextError(context, allowed);
    },
    doctor: [...createKubeDoctorChecks(where), ...createManifestDoctorChecks(clientFor)],
    teardown: createTeardown(clientFor),
    livePods: createKubePodWatcher(clientFor, opts.watchRetry),
    async dispose() {
      await Promise.all([...followers.values()].map((f) => f.dispose()));
      followers.clear();
      latestCtx.clear();
    },
  };
}

export { contextAllowed, loadKubeConfig } from './kubeconfig.js';
export { clusterTarget } from './target.js';
export { readClusterFacts, parseLocalRegistryHosting, detectFlavor } from './facts.js';
