import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ResolvedConfig } from './config/resolved.js';
import type { EngineHooks } from './engine.js';
import type { StageSet } from './stages/stage.js';

/**
 * The default Docker and Kubernetes stages, imported only when a service needs them. In the
 * bundles each integration is a file of its own that this import requires on first use
 * (scripts/build.mjs): activation parses neither, and a config without images never loads dockerode.
 */
export async function createIntegrations(config: ResolvedConfig, hooks?: EngineHooks): Promise<StageSet> {
  const services = Object.values(config.services);
  const set: StageSet = { doctor: [] };
  const disposers: (() => Promise<void>)[] = [];
  if (services.some((s) => s.deploy) && kubeconfigAvailable(config)) {
    const { createKubeStages } = await import('./kube/index.js');
    // Pod logs after ready belong to no stage of the run: they reach the engine as stage 'pod'.
    const kube = createKubeStages(config, hooks ? { logSink: (line) => hooks.log(line), ...(hooks.pods && { podSink: hooks.pods }) } : undefined);
    Object.assign(set, { live: kube.live, deploy: kube.deploy, ready: kube.ready, cluster: kube.cluster, refuseContext: kube.refuseContext, teardown: kube.teardown, livePods: kube.livePods });
    set.doctor!.push(...(kube.doctor ?? []));
    disposers.push(() => kube.dispose());
  }
  if (services.some((s) => s.image)) {
    const { createDockerStages } = await import('./docker/index.js');
    // Doctor also probes the registry the cluster advertises (KEP-1755), when there is a cluster.
    const docker = createDockerStages(config, { cluster: set.cluster });
    Object.assign(set, { image: docker.image, push: docker.push });
    set.doctor!.push(...(docker.doctor ?? []));
    disposers.push(() => docker.dispose());
  }
  set.dispose = async () => {
    await Promise.allSettled(disposers.map((dispose) => dispose()));
  };
  return set;
}

/**
 * Without any kubeconfig there is no cluster to deploy to: deploy and ready are then skipped as
 * "no Kubernetes cluster configured" instead of failing, so compile → push still works alone.
 */
function kubeconfigAvailable(config: ResolvedConfig): boolean {
  if (config.kubernetes.kubeconfig) return true; // explicit: a missing file must be reported, not skipped
  const fromEnv = (process.env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean);
  const candidates = fromEnv.length ? fromEnv : [path.join(os.homedir(), '.kube', 'config')];
  return candidates.some((file) => existsSync(file));
}
