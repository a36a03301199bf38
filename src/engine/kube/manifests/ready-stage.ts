import type { V1Pod } from '@kubernetes/client-node';
import { runCommand } from '../../compile/run-command.js';
import { StageError, type ManifestWorkload, type Stage, type StageContext } from '../../stages/stage.js';
import type { KubeClient } from '../client.js';
import { formatDuration } from '../../../shared/format.js';
import type { Baseline } from '../rollout.js';
import { waitForRollout } from '../wait-ready.js';
import type { RetryPolicy } from '../list-watch.js';
import type { WorkloadKind } from '../workload.js';
import { waitForCompletion } from './completion.js';
import { DynamicClient } from './dynamic-client.js';

/**
 * The ready stage for manifests: wait, all at once, for every workload deploy handed over —
 * Deployments, StatefulSets and DaemonSets rolled out, Jobs completed, Pods ready — then start
 * the followers (logs, port-forwards) on the first rollout workload, then run the readiness
 * command, if any, until it succeeds. Skipped when deploy applied nothing.
 */

export interface ManifestReadyShared {
  client(ctx: StageContext): KubeClient;
  afterReady(ctx: StageContext, client: KubeClient, baseline: Baseline, pods: V1Pod[]): void;
  watchRetry?: RetryPolicy;
}

const ROLLOUT_KINDS: Record<string, WorkloadKind> = { Deployment: 'deployment', StatefulSet: 'statefulset', DaemonSet: 'daemonset' };

export function createManifestReadyStage(shared: ManifestReadyShared): Stage {
  return {
    name: 'ready',
    skipReason: (ctx) => (ctx.outputs.manifests && !ctx.outputs.manifests.applied ? 'nothing was applied: the workloads are as the last ready run left them' : undefined),
    async run(ctx) {
      const d = ctx.service.deploy!;
      const out = ctx.outputs.manifests;
      if (!out) throw new StageError('ready needs the deploy stage of this run (it did not run).');
      const client = shared.client(ctx);
      const started = Date.now();
      // The first workload that fails stops the others' waits (its error is the one reported).
      const stopAll = new AbortController();
      const deadline = AbortSignal.any([ctx.signal, stopAll.signal]);
      const progress = (text: string) => ctx.log(text);
      const dyn = new DynamicClient(client.loaded.kc, client.requestTimeoutMs);
      const waits = out.workloads.map(async (w) => {
        const rolloutKind = ROLLOUT_KINDS[w.kind];
        if (rolloutKind) {
          const baseline = baselineOf(w, rolloutKind, started);
          const { pods } = await waitForRollout(client, baseline, { timeoutMs: d.readyTimeoutMs, signal: deadline, progress, ...(shared.watchRetry && { retry: shared.watchRetry }) });
          return { w, pods, baseline };
        }
        const pods = await waitForCompletion(client, dyn, { kind: w.kind as 'Job' | 'Pod', apiVersion: w.apiVersion, name: w.name, namespace: w.namespace }, {
          timeoutMs: d.readyTimeoutMs,
          signal: deadline,
          progress,
          ...(shared.watchRetry && { retry: shared.watchRetry }),
        });
        return { w, pods, baseline: undefined };
      }).map((p) => p.catch((err: unknown) => {
        stopAll.abort();
        throw err;
      }));
      const results = await Promise.all(waits);
      const first = results.find((r) => r.baseline);
      if (first?.baseline) shared.afterReady(ctx, client, first.baseline, first.pods);
      const podNames = results.flatMap((r) => r.pods.map((p) => p.metadata?.name ?? '?'));
      if (d.readiness) await probe(ctx, d.readiness);
      const names = out.workloads.map((w) => `${w.kind.toLowerCase()}/${w.name}`);
      return {
        detail: `${names.join(', ') || 'no workloads'} ready${d.readiness ? ', readiness command passed' : ''} (${formatDuration(Date.now() - started)})`,
        outputs: { readyPods: podNames },
      };
    },
  };
}

function baselineOf(w: ManifestWorkload, kind: WorkloadKind, startedAt: number): Baseline {
  if (!w.selector) throw new StageError(`${w.kind}/${w.name} has no pod selector; Tightloop cannot tell which pods are its own.`);
  return {
    kind,
    name: w.name,
    namespace: w.namespace,
    selector: w.selector,
    container: w.container ?? '',
    generation: w.generation,
    current: w.image ? { image: w.image } : {},
    startedAt,
  };
}

/** Retry the readiness command until it exits 0; its last output explains a timeout. */
async function probe(ctx: StageContext, readiness: { command: string; timeoutMs: number }): Promise<void> {
  const end = Date.now() + readiness.timeoutMs;
  let tail: string[] = [];
  let attempt = 0;
  for (;;) {
    attempt++;
    try {
      await runCommand({ command: readiness.command, cwd: ctx.config.root, env: {}, timeoutMs: Math.max(1000, end - Date.now()) }, ctx.signal, () => {});
      ctx.log(`readiness command passed (attempt ${attempt})`);
      return;
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      tail = err instanceof StageError ? (err.options.evidence ?? []) : [];
    }
    if (Date.now() >= end) {
      throw new StageError(`The readiness command "${readiness.command}" did not succeed within ${formatDuration(readiness.timeoutMs)} (${attempt} attempts).`, { evidence: tail });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, 50 * attempt)));
  }
}
