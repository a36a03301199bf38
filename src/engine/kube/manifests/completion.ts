import type { V1Pod } from '@kubernetes/client-node';
import { StageError } from '../../stages/stage.js';
import { describeApiError, type KubeClient } from '../client.js';
import { diagnose } from '../diagnose.js';
import { fatalProblem, isPodReady } from '../rollout.js';
import { evidenceSource } from '../wait-ready.js';
import { ListWatch, type RetryPolicy } from '../list-watch.js';
import type { DynamicClient } from './dynamic-client.js';
import type { KubeObject } from './source.js';

/**
 * Readiness of the two kinds that do not roll out: a Job is ready when it completed, a bare Pod
 * when it is Ready (or Succeeded, for a run-to-completion pod). Both are watched, never polled;
 * a failed Job or a pod stuck in a state that will not heal fails at once with the diagnosis.
 */

export interface CompletionTarget {
  kind: 'Job' | 'Pod';
  apiVersion: string;
  name: string;
  namespace: string;
}

export interface CompletionOptions {
  timeoutMs: number;
  signal: AbortSignal;
  progress(text: string): void;
  retry?: RetryPolicy;
}

export function waitForCompletion(client: KubeClient, dyn: DynamicClient, t: CompletionTarget, opts: CompletionOptions): Promise<V1Pod[]> {
  const what = `${t.kind.toLowerCase()}/${t.name}`;
  return new Promise<V1Pod[]>((resolve, reject) => {
    let settled = false;
    let last = '';
    const fieldSelector = `metadata.name=${t.name}`;
    const objectWatch = new ListWatch<KubeObject & { metadata: { uid?: string; resourceVersion?: string } }>(
      client.watch,
      {
        path: `${t.apiVersion.includes('/') ? `/apis/${t.apiVersion}` : `/api/${t.apiVersion}`}/namespaces/${encodeURIComponent(t.namespace)}/${t.kind === 'Job' ? 'jobs' : 'pods'}`,
        query: { fieldSelector },
        list: () => dyn.listObjects(t.apiVersion, t.kind, t.namespace, { fieldSelector }, opts.signal) as never,
        onChange: () => evaluate(),
        onFail: (err) => fail(new StageError(`Lost the connection to the Kubernetes API at ${client.server} while waiting for ${what}: ${describeApiError(err)}.`)),
        onNote: (text) => opts.progress(text),
      },
      opts.retry,
    );
    // A Job's pods carry job-name=<name>; their states explain a failing Job.
    const podWatch =
      t.kind === 'Job'
        ? new ListWatch<V1Pod>(
            client.watch,
            {
              path: `/api/v1/namespaces/${encodeURIComponent(t.namespace)}/pods`,
              query: { labelSelector: `job-name=${t.name}` },
              list: async () => {
                const l = await client.core.listNamespacedPod({ namespace: t.namespace, labelSelector: `job-name=${t.name}` }, client.options(opts.signal));
                return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
              },
              onChange: () => evaluate(),
              onFail: () => {},
            },
            opts.retry,
          )
        : undefined;
    const timer = setTimeout(() => void explain(opts.timeoutMs), opts.timeoutMs);
    const onAbort = () => fail(new StageError('cancelled'));
    opts.signal.addEventListener('abort', onAbort, { once: true });

    function finish(settle: () => void): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      objectWatch.stop();
      podWatch?.stop();
      settle();
    }
    function fail(err: StageError): void {
      finish(() => reject(err));
    }
    function pods(): V1Pod[] {
      if (t.kind === 'Pod') return [...objectWatch.items.values()] as unknown as V1Pod[];
      return [...(podWatch?.items.values() ?? [])];
    }

    function evaluate(): void {
      if (settled || !objectWatch.synced) return;
      const obj = [...objectWatch.items.values()][0] as (KubeObject & { status?: Record<string, unknown>; spec?: Record<string, unknown> }) | undefined;
      if (!obj) return fail(new StageError(`${what} no longer exists in namespace ${t.namespace} (context ${client.context}).`));
      const status = (obj.status ?? {}) as { succeeded?: number; failed?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[]; phase?: string };
      let summary: string;
      if (t.kind === 'Job') {
        const completions = Number((obj.spec as { completions?: number } | undefined)?.completions ?? 1);
        const failed = status.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
        if (failed) return void explain(undefined, `${what} failed: ${failed.message ?? failed.reason ?? 'Failed'}`);
        if ((status.succeeded ?? 0) >= completions || status.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')) {
          return finish(() => resolve(pods()));
        }
        summary = `${status.succeeded ?? 0}/${completions} completions`;
      } else {
        const pod = obj as unknown as V1Pod;
        if (status.phase === 'Succeeded' || isPodReady(pod)) return finish(() => resolve([pod]));
        if (status.phase === 'Failed') return void explain(undefined, `${what} failed`);
        summary = `pod ${status.phase ?? 'Pending'}`;
      }
      if (summary !== last) {
        last = summary;
        opts.progress(`${what}: ${summary}`);
      }
      if (fatalProblem(pods().filter((p) => !p.metadata?.deletionTimestamp))) void explain(undefined);
    }

    let diagnosing = false;
    async function explain(waitedMs: number | undefined, problem?: string): Promise<void> {
      if (settled || diagnosing) return;
      diagnosing = true;
      const err = await diagnose(
        { workload: what, container: undefined as unknown as string, newPods: pods(), oldLeft: [], waitedMs, workloadProblem: problem, workloadEvents: async () => [] },
        evidenceSource(client, opts.signal),
      );
      fail(err);
    }

    if (opts.signal.aborted) onAbort();
    else {
      objectWatch.start();
      podWatch?.start();
    }
  });
}

