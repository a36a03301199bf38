// The hand-off fields this stage returns are declared there (module augmentation).
import type {} from '../handoffs.js';
import type { StageContext, StageResult } from '../../stages/stage.js';
import { bounded } from '../abort.js';
import { oneLine } from '../../text.js';
import { hashContext } from '../context/build-context.js';
import { assembleImage } from './image.js';
import { DirectRegistry } from '../registry/session.js';
import { formatBytes, formatDuration } from '../../../shared/format.js';
import type { BuildPlan } from '../context/plan.js';
import { contentTag, isLoopbackRegistry, splitTag } from '../reference.js';
import type { DockerRuntime } from '../runtime.js';
import { tagHash } from '../tag.js';
import type { Route } from '../build-route.js';
import { liveImageChange } from '../../live/image-layer.js';

/**
 * image on the direct path: the same content tag as the engine path; when the registry already has
 * it, nothing to do; else the layers, config and manifest are computed here (the push stage uploads).
 */
export async function assembleDirect(ctx: StageContext, runtime: DockerRuntime, plan: BuildPlan, route: Extract<Route, { direct: true }>, started: number): Promise<StageResult> {
  const live = ctx.service.live && liveImageChange(ctx.service.live, plan.image.platform, route.spec);
  const contentHash = await hashContext(plan.files, runtime.hashCache, ctx.signal, ctx.outputs.stagedFiles);
  const ref = contentTag(plan.image.repository, await tagHash(plan, live ? `${contentHash} live ${live.tagSalt}` : contentHash, () => Promise.resolve(undefined)));
  const tag = splitTag(ref)[1];
  const { delivery } = route;
  const registry = await DirectRegistry.open(runtime, delivery, ctx.signal);
  ctx.log(route.why, 'info');

  const existing = await lookUpTag(ctx, runtime, tag, delivery.registry, (signal) => registry.manifestDigest(tag, signal));
  if (existing && !ctx.force) {
    ctx.log(`${delivery.pushRepository}:${tag} is already in the registry (${existing.digest.slice(0, 19)}…): nothing to assemble`, 'info');
    return {
      status: 'skipped',
      detail: `unchanged tag already in registry: ${delivery.pushRepository}:${tag} (same staged bytes, Dockerfile and platform)`,
      outputs: { imageRef: ref, imageId: existing.configDigest },
      handoffs: { image: { ref, delivery, direct: { registry, why: route.why, existingDigest: existing.digest } } },
    };
  }

  const compression = runtime.layerCompression ?? (isLoopbackRegistry(delivery.registry) ? 'none' : 'gzip');
  const image = await assembleImage(ref, plan.image.platform, live ? live.spec : route.spec, plan.files, compression, ctx.signal, runtime.layerKeys(ctx.config.root, ctx.service.name, (text) => ctx.log(text, 'info')), live ? [live.layer] : []);
  const took = Math.round(performance.now() - started);
  const layerBytes = image.layers.reduce((sum, l) => sum + l.size, 0);
  ctx.log(`assembled ${ref}: ${image.layers.length} layer(s), ${formatBytes(layerBytes)} (${compression === 'none' ? 'uncompressed' : 'gzip'}), manifest ${image.digest.slice(0, 19)}…`, 'info');
  return {
    detail: `assembled ${ref} in-process from ${formatBytes(plan.files.bytes)} of context in ${formatDuration(took)}: ${route.why}`,
    outputs: { imageRef: ref, imageId: image.configDigest },
    handoffs: { image: { ref, delivery, direct: { registry, why: route.why, image } } },
  };
}

/**
 * What the registry holds under `tag`, looked up once this service's registry GC is done (a GC
 * still running from the last push could delete the tag found here). Unreachable or refusing:
 * undefined, with a warning; the push stage says so with the whole story, assembly goes on.
 */
export async function lookUpTag<T>(ctx: StageContext, runtime: DockerRuntime, tag: string, registryName: string, look: (signal: AbortSignal) => Promise<T | undefined>): Promise<T | undefined> {
  await runtime.settled(ctx.service.name);
  try {
    return await look(bounded(ctx.signal, runtime.timeouts.apiMs).signal);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    ctx.log(`could not look ${tag} up in ${registryName}: ${oneLine((error as Error).message)}`, 'warn');
    return undefined;
  }
}
