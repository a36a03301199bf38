// The hand-off fields this stage reads or returns are declared there (module augmentation).
import type {} from './handoffs.js';
import type { Stage, StageContext, StageResult } from '../stages/stage.js';
import { StageError } from '../stages/stage.js';
import { buildImage } from './daemon/build.js';
import { hashContext } from './context/build-context.js';
import { formatBytes, formatDuration } from '../../shared/format.js';
import { forEnginePlatform, planBuild, type BuildPlan } from './context/plan.js';
import { findProblems, type Problem } from './context/preflight.js';
import { contentTag } from './reference.js';
import { tagHash } from './tag.js';
import { assembleDirect } from './assembly/assemble.js';
import { chooseRoute } from './build-route.js';
import type { DockerRuntime } from './runtime.js';
import { imagePlatforms } from '../platform.js';
import { assembleMultiPlatform } from './multi-platform.js';
import { engineLiveTagSalt, wrapForLive } from '../live/engine-layer.js';

/**
 * image: preflight (no Docker needed), content tag, skip when that tag exists, else build from an
 * in-process tar of the context. (Old images are cleaned up after delivery, see the push stage.)
 */
export function createImageStage(runtime: DockerRuntime): Stage {
  return {
    name: 'image',
    skipReason: (ctx) => (ctx.service.image ? undefined : 'no image configured'),
    async run(ctx: StageContext): Promise<StageResult> {
      const started = performance.now();
      if (imagePlatforms(ctx.service.image).length > 1) return assembleMultiPlatform(ctx, runtime, started);
      const planned = await planBuild(
        {
          service: ctx.service,
          configRoot: ctx.config.root,
          stagingDir: ctx.outputs.stagingDir,
          stagedFiles: ctx.outputs.stagedFiles,
          followSymlinksOutsideWorkspace: ctx.config.settings.followSymlinksOutsideWorkspace,
        },
        ctx.signal,
      );
      logContext(ctx, planned, runtime.largeContextBytes);
      const problems = await findProblems(planned, ctx.outputs.stagedFiles);
      if (problems.length) throw problemError(problems);

      const route = await chooseRoute(ctx, runtime, planned);
      if (route.direct) return assembleDirect(ctx, runtime, planned, route, started);
      ctx.log(route.why, 'info');

      const client = runtime.client();
      const plan = forEnginePlatform(planned, await runtime.enginePlatform(client, ctx.signal));
      const contentHash = await hashContext(plan.files, runtime.hashCache, ctx.signal, ctx.outputs.stagedFiles);
      // The tag comes from the platform-independent plan, so the direct path names the same image alike.
      const live = ctx.service.live;
      const keyed = live ? `${contentHash} live ${await engineLiveTagSalt(live, plan.image.platform)}` : contentHash;
      const ref = contentTag(plan.image.repository, await tagHash(planned, keyed, (base) => client.inspectImage(base, ctx.signal).then((found) => found?.Id)));
      // A cleanup still running from the last run could otherwise remove the tag found here.
      await runtime.settled(ctx.service.name);
      const existing = await client.inspectImage(ref, ctx.signal);
      const handoffs = { image: { ref, ...(route.delivery && { delivery: route.delivery }) } };
      if (existing && !ctx.force) {
        ctx.log(`${ref} already exists (${existing.Id.slice(7, 19)}): build skipped`, 'info');
        return { status: 'skipped', detail: `image ${ref} already exists: same staged bytes, Dockerfile, args and platform`, outputs: { imageRef: ref, imageId: existing.Id }, handoffs };
      }

      ctx.log(`building ${ref} (${plan.image.platform}) with ${plan.dockerfile.label} on ${client.endpoint.url}`, 'info');
      const built = await buildImage(client, plan, ref, ctx);
      const imageId = live ? await wrapForLive(client, live, plan.image.platform, built, ref, ctx.signal, (text) => ctx.log(text, 'info')) : built;
      const took = Math.round(performance.now() - started);
      return {
        detail: `built ${ref} from ${formatBytes(plan.files.bytes)} of context in ${formatDuration(took)} (${route.why})`,
        outputs: { imageRef: ref, imageId },
        handoffs,
      };
    },
  };
}

function logContext(ctx: StageContext, plan: BuildPlan, largeBytes: number): void {
  const files = plan.files.entries.filter((e) => e.type === 'file').length;
  if (plan.files.mode === 'compat') {
    ctx.log(`build context: ${plan.files.root} filtered by .dockerignore (${plan.files.rules.length} rules): ${files} files, ${formatBytes(plan.files.bytes)}`, 'info');
    if (plan.files.bytes > largeBytes) {
      ctx.log(`the build context is large (${formatBytes(plan.files.bytes)}): every build sends it all; exclude more in .dockerignore or use a staging folder`, 'warn');
    }
  } else {
    ctx.log(`build context: staging folder ${plan.files.root}: ${files} files, ${formatBytes(plan.files.bytes)}`, 'info');
  }
}

export function problemError(problems: Problem[]): StageError {
  const [first, ...rest] = problems;
  return new StageError(first!.message, {
    hint: first!.hint,
    evidence: [...(first!.evidence ?? []), ...rest.map((p) => `also: ${p.message}`)],
  });
}
