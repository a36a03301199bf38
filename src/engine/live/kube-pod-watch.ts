import type { V1Pod } from '@kubernetes/client-node';
import type { ResolvedConfig, ResolvedService } from '../config/resolved.js';
import type { KubeClient } from '../kube/client.js';
import { ListWatch, type RetryPolicy } from '../kube/list-watch.js';
import { parseWorkload, podName, podSelector, podUid, resolveWorkload } from '../kube/workload.js';
import type { LivePodWatcher, WatchedPod } from '../stages/stage.js';

/**
 * The pods of a live-update service's workload, watched between runs (list+watch that resumes
 * and re-lists like the ready stage's), so a pod that appears after a live sync can be brought to
 * the current content without waiting for the next save.
 */
export function createKubePodWatcher(clientFor: (config: ResolvedConfig) => KubeClient, retry?: RetryPolicy): LivePodWatcher {
  return {
    watch(config: ResolvedConfig, service: ResolvedService, onChange: (pods: WatchedPod[]) => void, onFail: (error: Error) => void) {
      const controller = new AbortController();
      let lw: ListWatch<V1Pod> | undefined;
      const start = async () => {
        const deploy = service.deploy;
        if (!deploy?.workload) throw new Error('live update needs deploy.workload (the workload whose pods receive the files)');
        const client = clientFor(config);
        const workload = await resolveWorkload(client, parseWorkload(deploy.workload, deploy.namespace), controller.signal);
        if (controller.signal.aborted) return;
        const selector = podSelector(workload);
        const watch: ListWatch<V1Pod> = new ListWatch<V1Pod>(
          client.watch,
          {
            path: `/api/v1/namespaces/${encodeURIComponent(workload.namespace)}/pods`,
            query: { labelSelector: selector },
            list: async () => {
              const l = await client.core.listNamespacedPod({ namespace: workload.namespace, labelSelector: selector }, client.options(controller.signal));
              return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
            },
            onChange: () => onChange([...watch.items.values()].map(watched)),
            onFail,
          },
          retry,
        );
        lw = watch;
        watch.start();
      };
      start().catch((error: unknown) => {
        if (!controller.signal.aborted) onFail(error as Error);
      });
      return {
        stop() {
          controller.abort();
          lw?.stop();
        },
      };
    },
  };
}

function watched(p: V1Pod): WatchedPod {
  const phase = p.status?.phase;
  return { name: podName(p), uid: podUid(p), gone: !!p.metadata?.deletionTimestamp || phase === 'Succeeded' || phase === 'Failed' };
}
