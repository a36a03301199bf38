// The hand-off fields this stage reads or returns are declared there (module augmentation).
import type {} from './handoffs.js';
import { PatchStrategy, type V1Pod } from '@kubernetes/client-node';
import { StageError, type Stage, type StageContext } from '../stages/stage.js';
import { apiFailure, statusCode, type KubeClient } from './client.js';
import { retryingApi } from './retry.js';
import { contextAllowed, refusedContextError } from './kubeconfig.js';
import { RESTARTED_AT, type Baseline, type CurrentPod } from './rollout.js';
import {
  label,
  parseWorkload,
  patchWorkload,
  pickContainer,
  podSelector,
  podUid,
  resolveWorkload,
  type Workload,
} from './workload.js';

/**
 * The deploy stage: change the workload so the new image runs.
 *  - set-image: strategic merge patch of the one container's image (containers merge by name, so
 *    sidecars are untouched; a JSON merge patch would replace the whole list).
 *  - rollout-restart: JSON merge patch of the kubectl.kubernetes.io/restartedAt template annotation,
 *    exactly what `kubectl rollout restart` changes (only a map, so merge patch is exact).
 *  - delete-pods: delete the current pods so the controller recreates them (fixed tags with
 *    imagePullPolicy: Always); no patch at all.
 * The allow-list is checked before the first request of any kind.
 */

export interface DeployShared {
  client(ctx: StageContext): KubeClient;
}

export function createDeployStage(shared: DeployShared): Stage {
  return {
    name: 'deploy',
    skipReason: (ctx) => (ctx.service.deploy ? undefined : 'no deploy configured'),
    async run(ctx) {
      const d = ctx.service.deploy!;
      const client = shared.client(ctx);
      const allowed = ctx.config.kubernetes.allowContexts;
      if (!contextAllowed(client.context, allowed)) throw refusedContextError(client.context, allowed);

      const ref = parseWorkload(d.workload!, d.namespace);
      const w = await retryingApi(client, ctx, `read ${label(ref)}`, () => resolveWorkload(client, ref, ctx.signal));
      const container = pickContainer(w, d.container);
      const selector = podSelector(w);
      const startedAt = Date.now();
      const base = { kind: w.kind, name: w.name, namespace: w.namespace, selector, container, startedAt };
      const what = label(w);

      if (d.strategy === 'delete-pods') {
        const spec = w.object.spec?.template.spec?.containers.find((c) => c.name === container);
        const policy = spec?.imagePullPolicy ?? defaultPullPolicy(spec?.image ?? '');
        if (policy !== 'Always') {
          ctx.log(`${container} has imagePullPolicy ${policy}: recreated pods may start from the image already cached on the node; delete-pods is meant for imagePullPolicy: Always`, 'warn');
        }
        const pods = await retryingApi(client, ctx, `list the pods of ${what}`, () => listPods(client, w, selector, ctx.signal));
        const deleted = await deletePods(client, w, pods, ctx);
        const generation = w.object.metadata?.generation ?? 0;
        const rollout: Baseline = { ...base, generation, current: { notUids: new Set(deleted.map(podUid)) } };
        const detail = deleted.length ? `deleted ${deleted.length} pod${deleted.length === 1 ? '' : 's'} of ${what}` : `${what} had no pods to delete`;
        ctx.log(detail);
        return { detail, outputs: { deployedGeneration: generation }, handoffs: { rollout } };
      }

      const previousGeneration = w.object.metadata?.generation ?? 0;
      let body: object;
      let contentType: string;
      let change: string;
      let current: CurrentPod;
      if (d.strategy === 'set-image') {
        const image = ctx.outputs.deployRef ?? ctx.lastSuccess?.deployRef;
        if (!image) {
          throw new StageError('set-image needs an image reference, but no image was built or pushed for this run.', {
            hint: 'Configure services.<name>.image, or use strategy rollout-restart / delete-pods for a fixed tag.',
          });
        }
        const currentImage = w.object.spec?.template.spec?.containers.find((c) => c.name === container)?.image;
        const drifted = ctx.handoffs.podsDrifted;
        if (currentImage === image && drifted) {
          // Same image, but live update changed files in the pods since: replace them (as rollout-restart does).
          const at = new Date().toISOString();
          body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } };
          current = { image, restartedAt: at };
          contentType = PatchStrategy.MergePatch;
          change = `restarted (${drifted}; the image ${image} is unchanged)`;
        } else if (currentImage === image) {
          const rollout: Baseline = { ...base, generation: previousGeneration, current: { image } };
          const detail = `${what} already runs ${image}`;
          ctx.log(detail);
          return { detail, outputs: { deployedGeneration: previousGeneration }, handoffs: { rollout } };
        } else {
          body = { spec: { template: { spec: { containers: [{ name: container, image }] } } } };
          current = { image };
          contentType = PatchStrategy.StrategicMergePatch;
          change = `set ${container} image to ${image}`;
        }
      } else {
        const at = new Date().toISOString();
        body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } };
        current = { restartedAt: at };
        contentType = PatchStrategy.MergePatch;
        change = `restarted (restartedAt ${at})`;
      }

      let patched;
      try {
        // Both patches are idempotent (the same image; the same restartedAt value), so a retry is safe.
        patched = await retryingApi(client, ctx, `patch ${what}`, () => patchWorkload(client, w.kind, w.namespace, w.name, body, client.options(ctx.signal, { 'Content-Type': contentType })));
      } catch (err) {
        throw apiFailure(err, client, `patch ${what} in namespace ${w.namespace}`);
      }
      const generation = patched.metadata?.generation ?? previousGeneration;
      const rollout: Baseline = { ...base, generation, current };
      const detail = `${change} on ${what} (generation ${generation})`;
      ctx.log(`${detail}, context ${client.context}`);
      return { detail, outputs: { deployedGeneration: generation }, handoffs: { rollout } };
    },
  };
}

/** The API server's default: Always for :latest or an untagged image, else IfNotPresent. */
function defaultPullPolicy(image: string): string {
  if (image.includes('@')) return 'IfNotPresent';
  const tag = image.split('/').pop()!.split(':')[1];
  return tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

export async function listPods(client: KubeClient, w: Workload, selector: string, signal: AbortSignal): Promise<V1Pod[]> {
  try {
    return (await client.core.listNamespacedPod({ namespace: w.namespace, labelSelector: selector }, client.options(signal))).items;
  } catch (err) {
    throw apiFailure(err, client, `list the pods of ${label(w)}`);
  }
}

async function deletePods(client: KubeClient, w: Workload, pods: V1Pod[], ctx: StageContext): Promise<V1Pod[]> {
  const deleted: V1Pod[] = [];
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) {
      deleted.push(pod); // already going; still wait for it to be gone
      continue;
    }
    try {
      const name = pod.metadata!.name!;
      await retryingApi(client, ctx, `delete pod ${name}`, () => client.core.deleteNamespacedPod({ name, namespace: w.namespace }, client.options(ctx.signal)));
      deleted.push(pod);
    } catch (err) {
      if (statusCode(err) === 404) continue; // gone meanwhile
      throw apiFailure(err, client, `delete pod ${pod.metadata?.name}`);
    }
  }
  return deleted;
}
