// The hand-off fields this stage reads or returns are declared there (module augmentation).
import type {} from './handoffs.js';
import type { KubeClient } from '../kube/client.js';
import { contextAllowed, refusedContextError } from '../kube/kubeconfig.js';
import { StageError, type Stage, type StageContext, type StageResult } from '../stages/stage.js';
import { formatBytes, formatDuration } from '../../shared/format.js';
import { kubeLivePods } from './kube-targets.js';
import { syncTargets, type LiveRecord } from './sync-pods.js';
import type { LiveSyncResult } from './sync.js';

/** How often the pods are listed again while some are still starting. */
const STARTING_POLL_MS = 100;

/**
 * The live stage (issue 13): bring every ready pod of the workload to this run's staged files over
 * pods/exec, without a new image or a rollout. `ok` means every pod of the workload runs the new
 * content (pods still starting are waited for and synced before that); `skipped` means fall back
 * to the full image + rollout path, and its detail is the one sentence that says why.
 */
export function createLiveStage(shared: { client(ctx: StageContext): KubeClient }): Stage {
  return {
    name: 'live',
    skipReason: (ctx) => (ctx.service.live ? undefined : 'no live update configured'),
    async run(ctx) {
      const live = ctx.service.live!;
      const last = ctx.lastSuccess?.live;
      const { stagingDir, stagedFiles } = ctx.outputs;
      if (!last || !stagingDir || !stagedFiles) return fallBack('no pod runs an image built in live mode yet');
      const client = shared.client(ctx);
      const allowed = ctx.config.kubernetes.allowContexts;
      if (!contextAllowed(client.context, allowed)) throw refusedContextError(client.context, allowed);

      const deadline = Date.now() + (ctx.service.deploy?.readyTimeoutMs ?? 60_000);
      let record: LiveRecord = last;
      const done: { name: string; result: LiveSyncResult }[] = [];
      let bytes = 0;
      // Pods still starting run their image's content once ready: sync them too before "ok".
      for (;;) {
        const { targets, starting } = await kubeLivePods(client, ctx.service, ctx.signal);
        if (targets.length === 0 && starting.length === 0) return fallBack(`${ctx.service.deploy?.workload ?? 'the workload'} has no running pod to sync into`);
        if (targets.some((t) => !done.some((d) => d.name === t.name))) {
          const outcome = await syncTargets({ live, root: ctx.config.root, stagingDir, staged: stagedFiles, changedFiles: ctx.trigger.changedFiles, record, targets, signal: ctx.signal });
          if (ctx.signal.aborted) throw new StageError('cancelled');
          if (outcome.kind === 'fallback') return fallBack(outcome.reason, { ...outcome.record, imageFiles: last.imageFiles });
          record = outcome.record;
          bytes += outcome.bytes;
          for (const r of outcome.results) {
            const seen = done.find((d) => d.name === r.target.name);
            if (!seen) done.push({ name: r.target.name, result: r.result });
            else if (r.result.files) seen.result = r.result;
          }
        }
        if (starting.length === 0) break;
        if (Date.now() > deadline) return fallBack(`pod ${starting.join(', ')} did not become ready within ${formatDuration(ctx.service.deploy!.readyTimeoutMs)} to receive the new files`, record);
        ctx.log(`waiting for ${starting.join(', ')} to become ready, to sync it too`);
        await new Promise((resolve) => setTimeout(resolve, STARTING_POLL_MS));
      }
      for (const d of done) ctx.log(describePod(d.name, d.result));
      const files = Math.max(0, ...done.map((d) => d.result.files));
      const pods = done.map((d) => d.name).join(', ');
      const detail = files === 0 ? `${pods} already run these files: no new image, no rollout` : `${files} file${files === 1 ? '' : 's'} (${formatBytes(bytes)} in all) synced into ${pods}: no new image, no rollout`;
      return { detail, outputs: { live: record } };
    },
  };
}

function fallBack(reason: string, record?: LiveRecord): StageResult {
  // Pods that got files since they started must be replaced by the rollout, even by the same image.
  const drifted = Object.keys(record?.pods ?? {}).length;
  return {
    status: 'skipped',
    detail: `full image + rollout: ${reason}`,
    ...(record && { outputs: { live: record } }),
    ...(drifted && { handoffs: { podsDrifted: `${drifted} pod${drifted === 1 ? '' : 's'} run${drifted === 1 ? 's' : ''} live-synced files` } }),
  };
}

function describePod(name: string, r: LiveSyncResult): string {
  if (r.files === 0) return `${name}: already runs these files`;
  const action = r.action === 'restart' ? `restarted (pid ${r.pid ?? '?'}${r.listenMs !== undefined ? `, listening after ${formatDuration(r.listenMs)}` : r.notListeningAfterMs !== undefined ? `, not listening after ${formatDuration(r.notListeningAfterMs)}` : ''})` : r.action === 'signal' ? 'signalled' : 'no action';
  const steps = r.openMs !== undefined && r.writeMs !== undefined ? ` (exec open ${formatDuration(r.openMs)}, files in place ${formatDuration(r.writeMs)} later)` : '';
  return `${name}: ${r.files} file${r.files === 1 ? '' : 's'}, ${formatBytes(r.bytes)}, ${action}, ${formatDuration(r.totalMs)} in all${steps}`;
}
