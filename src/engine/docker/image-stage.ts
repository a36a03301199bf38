import { createHash } from 'node:crypto';
import type { Stage, StageContext, StageResult } from '../stages/stage.js';
import { StageError } from '../stages/stage.js';
import { buildImage } from './build.js';
import { hashContext } from './context.js';
import { baseImages } from './dockerfile.js';
import { formatBytes, seconds } from './options.js';
import { findProblems, forEnginePlatform, planBuild, type BuildPlan, type Problem } from './plan.js';
import { contentTag } from './reference.js';
import type { DockerClient } from './client.js';
import type { DockerRuntime } from './runtime.js';

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
      const planned = await planBuild(
        { service: ctx.service, configRoot: ctx.config.root, stagingDir: ctx.outputs.stagingDir, stagedFiles: ctx.outputs.stagedFiles },
        ctx.signal,
      );
      logContext(ctx, planned, runtime.largeContextBytes);
      const problems = await findProblems(planned, ctx.outputs.stagedFiles);
      if (problems.length) throw problemError(problems);

      const client = runtime.client();
      const plan = forEnginePlatform(planned, await runtime.enginePlatform(client, ctx.signal));
      const contentHash = await hashContext(plan.files, runtime.hashCache, ctx.signal, ctx.outputs.stagedFiles);
      const ref = contentTag(plan.image.repository, await tagHash(plan, contentHash, ctx, client));
      // A cleanup still running from the last run could otherwise remove the tag found here.
      await runtime.settled(ctx.service.name);
      const existing = await client.inspectImage(ref, ctx.signal);
      if (existing) {
        ctx.log(`${ref} already exists (${existing.Id.slice(7, 19)}): build skipped`, 'info');
        return { status: 'skipped', detail: `image ${ref} already exists: same staged bytes, Dockerfile, args and platform`, outputs: { imageRef: ref, imageId: existing.Id } };
      }

      ctx.log(`building ${ref} (${plan.image.platform}) with ${plan.dockerfile.label} on ${client.endpoint.url}`, 'info');
      const imageId = await buildImage(client, plan, ref, ctx);
      const took = Math.round(performance.now() - started);
      return {
        detail: `built ${ref} from ${formatBytes(plan.files.bytes)} of context in ${seconds(took)}`,
        outputs: { imageRef: ref, imageId },
      };
    },
  };
}

/**
 * The tag covers everything that decides the image: staged bytes, Dockerfile, build args,
 * platform, the service label, and the IDs of external base images (a rebuilt base → new tag).
 */
async function tagHash(plan: BuildPlan, contentHash: string, ctx: StageContext, client: DockerClient): Promise<string> {
  const hash = createHash('sha256')
    .update('tightloop-image v1\n')
    .update(`service ${plan.service}\nplatform ${plan.image.platform}\ncontext ${contentHash}\n`)
    .update(`dockerfile ${plan.dockerfile.text}\n`)
    .update(`dockerignore ${plan.files.dockerignoreText ?? ''}\n`);
  for (const [key, value] of Object.entries(plan.image.buildArgs).sort(([a], [b]) => a.localeCompare(b))) hash.update(`arg ${key}=${value}\n`);
  for (const base of baseImages(plan.parsed)) {
    const found = await client.inspectImage(base, ctx.signal);
    hash.update(`base ${base} ${found?.Id ?? 'absent'}\n`);
  }
  return hash.digest('hex');
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
