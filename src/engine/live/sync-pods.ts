import type { ResolvedService } from '../config/resolved.js';
import type { LiveRecord, StagedFile } from '../stages/stage.js';

export type { LiveRecord };
import { imageContent, planLiveSync, type PodContent } from './plan.js';
import { liveSync, LiveSyncError, type LiveSyncResult } from './sync.js';
import type { ExecTransport } from './transport.js';

type Live = NonNullable<ResolvedService['live']>;

/** One running container a live update goes into. */
export interface LiveTarget {
  /** Pod UID (Kubernetes) or container id (Docker): a replaced pod is a new target. */
  uid: string;
  name: string;
  transport: ExecTransport;
}

export type LiveOutcome =
  | { kind: 'synced'; record: LiveRecord; results: { target: LiveTarget; result: LiveSyncResult }[]; bytes: number }
  | { kind: 'fallback'; reason: string; code?: string; record: LiveRecord };

/**
 * Brings every target to this run's staged content in parallel. Any target that cannot be
 * synced (plan says fall back, no agent, exec forbidden, a half-failed sync, a crashing new
 * process) makes the whole outcome a fallback with one sentence naming the pod and the cause;
 * targets that were synced are recorded either way, so the record stays true.
 */
export async function syncTargets(args: {
  live: Live;
  root: string;
  stagingDir: string;
  staged: readonly StagedFile[];
  changedFiles: readonly string[];
  record: LiveRecord;
  targets: readonly LiveTarget[];
  signal?: AbortSignal;
}): Promise<LiveOutcome> {
  const { live, record, targets } = args;
  const kept: LiveRecord = { imageFiles: record.imageFiles, pods: {} };
  for (const t of targets) if (record.pods[t.uid]) kept.pods[t.uid] = record.pods[t.uid]!;
  if (targets.length === 0) return { kind: 'fallback', reason: 'no running pod to sync into', record: kept };
  const plans = targets.map((target) => {
    const pod = kept.pods[target.uid] ?? imageContent(live, record.imageFiles);
    return { target, pod, plan: planLiveSync({ live, root: args.root, stagingDir: args.stagingDir, staged: args.staged, imageFiles: record.imageFiles, pod, changedFiles: args.changedFiles }) };
  });
  const refused = plans.find((p) => p.plan.kind === 'fallback');
  if (refused && refused.plan.kind === 'fallback') return { kind: 'fallback', reason: refused.plan.reason, record: kept };

  const action = live.action === 'restart' ? { kind: 'restart' as const, listenWaitMs: live.listenTimeoutMs } : live.action === 'signal' ? { kind: 'signal' as const, signal: live.signal } : { kind: 'none' as const };
  const settled = await Promise.allSettled(
    plans.map(async ({ target, pod, plan }) => {
      if (plan.kind !== 'live') throw new Error('unreachable');
      // Already runs this content: no exec, and above all no restart.
      if (plan.files.length === 0) return { target, result: { files: 0, bytes: 0, action: 'none' as const, totalMs: 0 } };
      const result = await liveSync(target.transport, plan.files, action, { signal: args.signal });
      const content: PodContent = { ...pod };
      for (const f of plan.files) content[f.path] = f.sha256;
      kept.pods[target.uid] = content;
      return { target, result };
    }),
  );
  const failed = settled.map((s, i) => ({ s, target: targets[i]! })).filter((x) => x.s.status === 'rejected');
  if (failed.length) {
    const first = failed[0]!;
    const error = (first.s as PromiseRejectedResult).reason as Error;
    const synced = targets.length - failed.length;
    const more = `${failed.length - 1} more pod${failed.length > 2 ? 's' : ''}`;
    const half = synced > 0 ? `; ${synced} of ${targets.length} pods already run the new files` : '';
    // Other pods failing too are named right after the first one, so the sentence stays one sentence.
    const target = first.target.transport.target;
    const said = failed.length === 1 ? error.message : error.message.includes(target) ? error.message.replace(target, `${target} and ${more}`) : `${error.message} (and ${more})`;
    return { kind: 'fallback', reason: `${said}${half}`, ...(error instanceof LiveSyncError && { code: error.code }), record: kept };
  }
  const results = settled.map((s) => (s as PromiseFulfilledResult<{ target: LiveTarget; result: LiveSyncResult }>).value);
  return { kind: 'synced', record: kept, results, bytes: results.reduce((n, r) => n + r.result.bytes, 0) };
}
