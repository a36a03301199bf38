import type { StageContext, StageResult } from '../stages/stage.js';
import { bounded, oneLine } from './abort.js';
import { hashContext } from './context.js';
import { decideDelivery, type Delivery } from './delivery.js';
import { assembleImage } from './direct-image.js';
import { DirectRegistry } from './direct-push.js';
import { decideDirect, type DirectSpec } from './direct-spec.js';
import { formatBytes, seconds } from './options.js';
import type { BuildPlan } from './plan.js';
import { contentTag, isLoopbackRegistry, splitTag } from './reference.js';
import type { DockerRuntime } from './runtime.js';
import { tagHash } from './tag.js';

export type Route = { direct: true; spec: DirectSpec; delivery: Extract<Delivery, { mode: 'push' }>; why: string } | { direct: false; why: string };

/**
 * The direct path (like ko or jib: no engine, the image assembled here and pushed over the registry
 * API) when the image is going to a registry anyway and nothing in it needs the builder. A shared
 * daemon or kind load needs the image inside the engine, so those keep the engine build.
 */
export async function chooseRoute(ctx: StageContext, runtime: DockerRuntime, plan: BuildPlan): Promise<Route> {
  if (runtime.engineForced) return { direct: false, why: 'engine build: TIGHTLOOP_ENGINE_BUILD=1 is set' };
  const decision = decideDirect(plan);
  if (!decision.direct) return decision;
  let delivery: Delivery;
  try {
    delivery = await decideDelivery(ctx, runtime.config, runtime.timeouts.clusterFactsMs);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    // The push stage reports why there is no delivery; the build does not depend on it.
    return { direct: false, why: `engine build: no delivery decided yet (${oneLine((error as Error).message)})` };
  }
  if (delivery.mode !== 'push') return { direct: false, why: `engine build: delivery is ${delivery.mode}, which needs the image inside the engine` };
  return { direct: true, spec: decision.spec, delivery, why: decision.why };
}

/**
 * image on the direct path: the same content tag as the engine path; when the registry already has
 * it, nothing to do; else the layers, config and manifest are computed here (the push stage uploads).
 */
export async function assembleDirect(ctx: StageContext, runtime: DockerRuntime, plan: BuildPlan, route: Extract<Route, { direct: true }>, started: number): Promise<StageResult> {
  const contentHash = await hashContext(plan.files, runtime.hashCache, ctx.signal, ctx.outputs.stagedFiles);
  const ref = contentTag(plan.image.repository, await tagHash(plan, contentHash, () => Promise.resolve(undefined)));
  const tag = splitTag(ref)[1];
  const { delivery } = route;
  const registry = await DirectRegistry.open(runtime, delivery, ctx.signal);
  ctx.log(route.why, 'info');

  // A registry GC still running from the last push could otherwise delete the tag found here.
  await runtime.settled(ctx.service.name);
  let existing: Awaited<ReturnType<DirectRegistry['manifestDigest']>>;
  try {
    existing = await registry.manifestDigest(tag, bounded(ctx.signal, runtime.timeouts.apiMs).signal);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    // Unreachable or refusing: the push stage says so with the whole story; assemble meanwhile.
    ctx.log(`could not look ${tag} up in ${delivery.registry}: ${oneLine((error as Error).message)}`, 'warn');
  }
  if (existing) {
    runtime.direct.set(ctx.service.name, { ref, registry, why: route.why, existingDigest: existing.digest });
    ctx.log(`${delivery.pushRepository}:${tag} is already in the registry (${existing.digest.slice(0, 19)}…): nothing to assemble`, 'info');
    return {
      status: 'skipped',
      detail: `unchanged tag already in registry: ${delivery.pushRepository}:${tag} (same staged bytes, Dockerfile and platform)`,
      outputs: { imageRef: ref, imageId: existing.configDigest },
    };
  }

  const compression = runtime.layerCompression ?? (isLoopbackRegistry(delivery.registry) ? 'none' : 'gzip');
  const image = await assembleImage(ref, plan.image.platform, route.spec, plan.files, compression, ctx.signal);
  runtime.direct.set(ctx.service.name, { ref, registry, why: route.why, image });
  const took = Math.round(performance.now() - started);
  const layerBytes = image.layers.reduce((sum, l) => sum + l.size, 0);
  ctx.log(`assembled ${ref}: ${image.layers.length} layer(s), ${formatBytes(layerBytes)} (${compression === 'none' ? 'uncompressed' : 'gzip'}), manifest ${image.digest.slice(0, 19)}…`, 'info');
  return {
    detail: `assembled ${ref} in-process from ${formatBytes(plan.files.bytes)} of context in ${seconds(took)}: ${route.why}`,
    outputs: { imageRef: ref, imageId: image.configDigest },
  };
}
