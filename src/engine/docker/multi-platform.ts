// The hand-off fields this stage reads or returns are declared there (module augmentation).
import type {} from './handoffs.js';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { StageContext, StageResult, StagedFile } from '../stages/stage.js';
import { StageError } from '../stages/stage.js';
import { imagePlatforms, platformFolder } from '../platform.js';
import { lookUpTag } from './assembly/assemble.js';
import { assembleImage, type DirectImage } from './assembly/image.js';
import { imageIndex } from './assembly/image-index.js';
import { decideDirect } from './assembly/spec.js';
import { chooseRoute } from './build-route.js';
import { hashContext } from './context/build-context.js';
import { planBuild, type BuildPlan } from './context/plan.js';
import { findProblems } from './context/preflight.js';
import { formatBytes, formatDuration } from '../../shared/format.js';
import { contentTag, isLoopbackRegistry, splitTag } from './reference.js';
import { DirectRegistry } from './registry/session.js';
import type { DockerRuntime } from './runtime.js';
import { tagHash } from './tag.js';

interface PlatformPart {
  platform: string;
  plan: BuildPlan;
  staged: StagedFile[] | undefined;
}

/**
 * image for several platforms (image.platforms): each platform's staging subfolder is planned and
 * preflighted (the ELF check against that platform) before anything is contacted or uploaded; then
 * one image per platform is assembled in-process and an OCI image index over them gets the content
 * tag. Only the direct path can do this: the engine here builds one platform, so an image that
 * needs the builder is refused with a config error rather than faked.
 */
export async function assembleMultiPlatform(ctx: StageContext, runtime: DockerRuntime, started: number): Promise<StageResult> {
  const image = ctx.service.image!;
  const platforms = imagePlatforms(image);
  const stagingDir = ctx.outputs.stagingDir ?? ctx.service.stage?.dir;
  if (!stagingDir || image.context) throw new StageError('image.platforms needs a staging folder (one subfolder per platform); image.context builds in the engine, which cannot make a multi-platform image here');

  const parts: PlatformPart[] = [];
  for (const platform of platforms) {
    const folder = platformFolder(platform);
    const staged = ctx.outputs.stagedFiles?.filter((f) => f.path.startsWith(`${folder}/`)).map((f) => ({ ...f, path: f.path.slice(folder.length + 1) }));
    const service = { ...ctx.service, image: { ...image, platform, platforms: undefined } };
    const plan = await planBuild({ service, configRoot: ctx.config.root, stagingDir: path.join(stagingDir, folder), stagedFiles: staged }, ctx.signal);
    const problems = await findProblems(plan, staged);
    if (problems.length) {
      const [first, ...rest] = problems;
      throw new StageError(`${platform}: ${first!.message}`, {
        hint: `${first!.hint ? `${first!.hint}; ` : ''}nothing was uploaded for any platform`,
        evidence: [...(first!.evidence ?? []), ...rest.map((p) => `also: ${p.message}`)],
      });
    }
    parts.push({ platform, plan, staged });
  }

  const route = await chooseRoute(ctx, runtime, parts[0]!.plan);
  if (!route.direct) {
    throw new StageError(`image.platforms lists ${platforms.length} platforms, but this image needs the engine path (${route.why.replace(/^engine build: /, '')}), which cannot build a multi-platform image here`, {
      hint: 'use a FROM scratch image with COPY only (or the generated Dockerfile) delivered to a registry, or list one platform in image.platforms',
    });
  }

  // The index tag covers every platform's own content tag, in config order.
  const tags: string[] = [];
  for (const part of parts) {
    const contentHash = await hashContext(part.plan.files, runtime.hashCache, ctx.signal, part.staged);
    tags.push(`${part.platform} ${await tagHash(part.plan, contentHash, () => Promise.resolve(undefined))}`);
  }
  const ref = contentTag(image.repository, createHash('sha256').update(`tightloop-index v1\n${tags.join('\n')}\n`).digest('hex'));
  const tag = splitTag(ref)[1];
  const { delivery } = route;
  const registry = await DirectRegistry.open(runtime, delivery, ctx.signal);
  ctx.log(`${route.why}; ${platforms.length} platforms (${platforms.join(', ')}) under one image index`, 'info');

  const existing = await lookUpTag(ctx, runtime, tag, delivery.registry, (signal) => registry.headManifest(tag, signal));
  if (existing && !ctx.force) {
    ctx.log(`${delivery.pushRepository}:${tag} is already in the registry (${existing.slice(0, 19)}…): nothing to assemble`, 'info');
    return {
      status: 'skipped',
      detail: `unchanged tag already in registry: ${delivery.pushRepository}:${tag} (same staged bytes, Dockerfile and platforms)`,
      outputs: { imageRef: ref, imageId: existing },
      handoffs: { image: { ref, delivery, direct: { registry, why: route.why, existingDigest: existing } } },
    };
  }

  const compression = runtime.layerCompression ?? (isLoopbackRegistry(delivery.registry) ? 'none' : 'gzip');
  const images: { platform: string; image: DirectImage }[] = [];
  for (const part of parts) {
    const decision = decideDirect(part.plan);
    if (!decision.direct) throw new StageError(`${part.platform}: ${decision.why}`);
    const one = await assembleImage(ref, part.platform, decision.spec, part.plan.files, compression, ctx.signal, runtime.layerKeys(ctx.config.root, ctx.service.name, (text) => ctx.log(`${part.platform}: ${text}`, 'info')));
    const bytes = one.layers.reduce((sum, l) => sum + l.size, 0);
    ctx.log(`assembled ${part.platform}: ${one.layers.length} layer(s), ${formatBytes(bytes)}, manifest ${one.digest.slice(0, 19)}…`, 'info');
    images.push({ platform: part.platform, image: one });
  }
  const index = imageIndex(ref, images);
  const took = Math.round(performance.now() - started);
  ctx.log(`assembled ${ref}: image index ${index.digest.slice(0, 19)}… over ${platforms.join(', ')}`, 'info');
  return {
    detail: `assembled ${ref} in-process for ${platforms.join(', ')} in ${formatDuration(took)}: ${route.why}`,
    outputs: { imageRef: ref, imageId: index.digest },
    handoffs: { image: { ref, delivery, direct: { registry, why: route.why, image: index } } },
  };
}
