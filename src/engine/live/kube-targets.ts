import type { V1Pod } from '@kubernetes/client-node';
import type { ResolvedService } from '../config/resolved.js';
import { apiFailure, type KubeClient } from '../kube/client.js';
import { parseWorkload, pickContainer, podName, podSelector, podUid, resolveWorkload } from '../kube/workload.js';
import { KubeExecTransport } from './kube-exec.js';
import type { LiveTarget } from './sync-pods.js';

const isReady = (p: V1Pod) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** Every ready pod of the service's workload, each a live-update target over pods/exec. */
export async function kubeLiveTargets(client: KubeClient, service: ResolvedService, signal: AbortSignal): Promise<LiveTarget[]> {
  return (await kubeLivePods(client, service, signal)).targets;
}

/**
 * The ready pods as targets, and the names of the pods still starting (not ready, not going away):
 * those will run their image's content once ready, so a live update is not done until they have
 * been synced too.
 */
export async function kubeLivePods(client: KubeClient, service: ResolvedService, signal: AbortSignal): Promise<{ targets: LiveTarget[]; starting: string[] }> {
  const deploy = service.deploy!;
  // With manifests the workload may be discovered instead of named; live update needs it named.
  if (!deploy.workload) throw new Error(`${service.name}: live update needs deploy.workload (the workload whose pods receive the files)`);
  const workload = await resolveWorkload(client, parseWorkload(deploy.workload, deploy.namespace), signal);
  const container = pickContainer(workload, deploy.container);
  let pods: V1Pod[];
  try {
    pods = (await client.core.listNamespacedPod({ namespace: workload.namespace, labelSelector: podSelector(workload) }, client.options(signal))).items;
  } catch (err) {
    throw apiFailure(err, client, `list the pods of ${deploy.workload}`);
  }
  return {
    targets: pods.filter(isReady).map((p) => ({ uid: podUid(p), name: podName(p), transport: new KubeExecTransport(client.loaded.kc, workload.namespace, podName(p), container) })),
    starting: pods.filter((p) => !isReady(p) && !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').map(podName),
  };
}
