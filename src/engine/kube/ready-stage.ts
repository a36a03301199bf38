// The hand-off fields this stage reads or returns are declared there (module augmentation).
import type {} from './handoffs.js';
import type { V1Pod } from '@kubernetes/client-node';
import type { Stage, StageContext } from '../stages/stage.js';
import type { KubeClient } from './client.js';
import { formatDuration } from '../../shared/format.js';
import type { Baseline } from './rollout.js';
import { waitForRollout } from './wait-ready.js';
import type { RetryPolicy } from './list-watch.js';
import { label, parseWorkload, pickContainer, podName, podSelector, resolveWorkload } from './workload.js';

/**
 * The ready stage: wait (by watching) until the rollout deploy started (its `rollout` hand-off) is
 * complete, then hand the ready pods to the followers (log streaming, port-forwards). Without one
 * (deploy was skipped) it waits for the workload's current state to be fully rolled out.
 */

export interface ReadyShared {
  client(ctx: StageContext): KubeClient;
  afterReady(ctx: StageContext, client: KubeClient, baseline: Baseline, pods: V1Pod[]): void;
  watchRetry?: RetryPolicy;
}

export function createReadyStage(shared: ReadyShared): Stage {
  return {
    name: 'ready',
    skipReason: (ctx) => (ctx.service.deploy ? undefined : 'no deploy configured'),
    async run(ctx) {
      const d = ctx.service.deploy!;
      const client = shared.client(ctx);
      const baseline = ctx.handoffs.rollout ?? (await currentBaseline(client, ctx));
      const started = Date.now();
      const { pods } = await waitForRollout(client, baseline, {
        timeoutMs: d.readyTimeoutMs,
        signal: ctx.signal,
        progress: (text) => ctx.log(text),
        ...(shared.watchRetry && { retry: shared.watchRetry }),
      });
      const names = pods.map(podName);
      shared.afterReady(ctx, client, baseline, pods);
      const sinceWrite = formatDuration(Date.now() - baseline.startedAt);
      return {
        detail: `${label(baseline)} ready: ${names.join(', ') || 'no pods wanted'} (${sinceWrite} after the change, ${formatDuration(Date.now() - started)} waiting)`,
        outputs: { readyPods: names },
      };
    },
  };
}

async function currentBaseline(client: KubeClient, ctx: StageContext): Promise<Baseline> {
  const d = ctx.service.deploy!;
  const w = await resolveWorkload(client, parseWorkload(d.workload!, d.namespace), ctx.signal);
  return {
    kind: w.kind,
    name: w.name,
    namespace: w.namespace,
    selector: podSelector(w),
    container: pickContainer(w, d.container),
    generation: w.object.metadata?.generation ?? 0,
    current: {},
    startedAt: Date.now(),
  };
}
