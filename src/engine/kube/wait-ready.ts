import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { StageError } from '../stages/stage.js';
import { describeApiError, type KubeClient } from './client.js';
import { diagnose, type EvidenceSource } from './diagnose.js';
import { assess, deadlineExceeded, fatalProblem, type Assessment, type Baseline } from './rollout.js';
import { ListWatch, type RetryPolicy } from './list-watch.js';
import { collectionPath, label, listWorkloads, type WorkloadObject } from './workload.js';

/**
 * Wait for a rollout by watching the workload and its pods (never polling): re-assess on every
 * event, finish as soon as it is done, fail fast on a state that will not heal, and at the
 * deadline explain the worst pod.
 */

export interface WaitOptions {
  timeoutMs: number;
  signal: AbortSignal;
  progress(text: string): void;
  retry?: RetryPolicy;
}

export interface ReadyResult {
  pods: V1Pod[];
  assessment: Assessment;
}

export function waitForRollout(client: KubeClient, b: Baseline, opts: WaitOptions): Promise<ReadyResult> {
  const what = label(b);
  return new Promise<ReadyResult>((resolve, reject) => {
    let settled = false;
    let workload: WorkloadObject | undefined;
    let lastSummary = '';
    let diagnosing = false;

    const workloadWatch = new ListWatch<WorkloadObject>(
      client.watch,
      {
        path: collectionPath(b.kind, b.namespace),
        query: { fieldSelector: `metadata.name=${b.name}` },
        list: () => listWorkloads(client, b.kind, b.namespace, { fieldSelector: `metadata.name=${b.name}` }, client.options(opts.signal)),
        onChange: () => {
          workload = [...workloadWatch.items.values()][0];
          if (workload) evaluate();
          else finish(() => reject(new StageError(`${what} no longer exists in namespace ${b.namespace} (context ${client.context}).`)));
        },
        onFail: (err) => lost(err),
        onNote: (t) => opts.progress(t),
      },
      opts.retry,
    );
    const podWatch = new ListWatch<V1Pod>(
      client.watch,
      {
        path: `/api/v1/namespaces/${encodeURIComponent(b.namespace)}/pods`,
        query: { labelSelector: b.selector },
        list: async () => {
          const l = await client.core.listNamespacedPod({ namespace: b.namespace, labelSelector: b.selector }, client.options(opts.signal));
          return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
        },
        onChange: () => evaluate(),
        onFail: (err) => lost(err),
        onNote: (t) => opts.progress(t),
      },
      opts.retry,
    );

    const timer = setTimeout(() => void explain(opts.timeoutMs), opts.timeoutMs);
    const onAbort = () => finish(() => reject(new StageError('cancelled')));
    opts.signal.addEventListener('abort', onAbort, { once: true });

    function finish(settle: () => void): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      workloadWatch.stop();
      podWatch.stop();
      settle();
    }

    function current(): Assessment | undefined {
      if (!workload || !podWatch.synced) return undefined;
      return assess(b.kind, workload, [...podWatch.items.values()], b);
    }

    function evaluate(): void {
      if (settled || diagnosing) return;
      const a = current();
      if (!a) return;
      if (a.done) {
        finish(() => resolve({ pods: a.readyNew, assessment: a }));
        return;
      }
      if (a.summary !== lastSummary) {
        lastSummary = a.summary;
        opts.progress(a.summary);
      }
      const problem = fatalProblem(a.newPods, b.container);
      const deadline = deadlineExceeded(b.kind, workload!);
      if (problem || deadline) void explain(undefined, deadline);
    }

    async function explain(waitedMs: number | undefined, workloadProblem?: string): Promise<void> {
      if (settled || diagnosing) return;
      diagnosing = true;
      const a = current() ?? { newPods: [], oldLeft: [] };
      // Evidence reads are bounded: a dying API server must not turn a failure into a hang.
      const err = await diagnose(
        { workload: what, container: b.container, newPods: a.newPods, oldLeft: a.oldLeft, waitedMs, workloadProblem, workloadEvents: () => eventsFor(client, b.namespace, b.name, opts.signal) },
        evidenceSource(client, opts.signal),
      );
      finish(() => reject(err));
    }

    function lost(err: Error): void {
      finish(() =>
        reject(
          new StageError(`Lost the connection to the Kubernetes API at ${client.server} while waiting for ${what}: ${describeApiError(err)}.`, {
            hint: `Is the cluster still running? Try: kubectl --context ${client.context} get nodes`,
            cause: err,
          }),
        ),
      );
    }

    if (opts.signal.aborted) onAbort();
    else {
      workloadWatch.start();
      podWatch.start();
    }
  });
}

export function evidenceSource(client: KubeClient, signal: AbortSignal): EvidenceSource {
  const quick = () => client.options(signal, {}, 5000);
  return {
    events: (pod) => eventsFor(client, pod.metadata!.namespace!, pod.metadata!.name!, signal, pod.metadata?.uid),
    logs: async (pod, container, previous, tail) => {
      const text = await client.core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, container, previous, tailLines: tail }, quick());
      return text.split('\n').filter((l) => l.length > 0).slice(-tail);
    },
    nodeArch: async (nodeName) => {
      if (!nodeName) return undefined;
      const node = await client.core.readNode({ name: nodeName }, quick());
      return node.status?.nodeInfo?.architecture ?? node.metadata?.labels?.['kubernetes.io/arch'];
    },
  };
}

async function eventsFor(client: KubeClient, namespace: string, name: string, signal: AbortSignal, uid?: string): Promise<CoreV1Event[]> {
  const fieldSelector = uid ? `involvedObject.name=${name},involvedObject.uid=${uid}` : `involvedObject.name=${name}`;
  const list = await client.core.listNamespacedEvent({ namespace, fieldSelector }, client.options(signal, {}, 5000));
  const time = (e: CoreV1Event) => new Date((e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0) as string | number | Date).getTime();
  return list.items.sort((a, b) => time(a) - time(b));
}

