import type { Stage } from '../../stages/stage.js';

/**
 * One stage slot, two implementations: services with deploy.manifests (or resources) apply their
 * objects; the others patch an existing workload. Chosen per run from the service's config.
 */
export function byDeploySource(fromManifests: Stage, patchWorkload: Stage): Stage {
  const pick = (ctx: Parameters<Stage['run']>[0]) => (ctx.service.deploy?.manifests ? fromManifests : patchWorkload);
  return {
    name: patchWorkload.name,
    skipReason: (ctx) => (ctx.service.deploy ? pick(ctx).skipReason?.(ctx) : 'no deploy configured'),
    run: (ctx) => pick(ctx).run(ctx),
  };
}
