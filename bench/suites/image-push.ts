import { cp, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Engine, type RunSummary, type StageName } from '../../src/engine/index.js';
import { createIntegrations } from '../../src/engine/integrations.js';
import { baseBinary, MiB, writePadded } from '../lib/artifact.js';
import { runPlainCli } from '../lib/baseline.js';
import type { BenchContext } from '../lib/context.js';
import { removeTag } from '../lib/docker.js';
import { makeFixture } from '../lib/fixture.js';
import { figure, type Figure, type SuiteOutput } from '../lib/result.js';
import { summarize } from '../lib/stats.js';

const SIZES_MIB = [2, 20, 80];

/**
 * 2. stage, image, push for staged binaries of 2, 20 and 80 MiB (the static example binary padded
 * with fresh random bytes, so every repetition is a new image and a new layer), against
 * bench/baseline/plain-cli.sh doing cp + docker build + docker push of the same context.
 * Engine and baseline repetitions alternate, so drift (page cache, registry disk) hits both.
 */
export async function imagePush(ctx: BenchContext): Promise<SuiteOutput> {
  const reps = ctx.reps(7, 2);
  const base = await baseBinary(ctx.tmpRoot);
  const repository = `${ctx.repoPrefix}/image-push`;
  // The compile step is a no-op here: the bench writes the artifact, so only stage/image/push vary.
  const fx = await makeFixture(ctx.tmpRoot, { name: 'image-push', repository, registry: ctx.registry, compile: 'true' });
  const baselineContext = path.join(ctx.tmpRoot, 'image-push-baseline');
  await mkdir(baselineContext, { recursive: true });
  await cp(path.join(fx.root, 'Dockerfile'), path.join(baselineContext, 'Dockerfile'));

  const engine = await Engine.create(fx.configFile, { stages: createIntegrations });
  const figures: Figure[] = [];
  const raw: Record<string, unknown> = {};
  try {
    for (const mib of SIZES_MIB) {
      const engineRuns: Record<string, number[]> = { staging: [], image: [], push: [], both: [] };
      const plainRuns: Record<string, number[]> = { cp: [], build: [], push: [], both: [] };
      // One unmeasured round each: first-use costs (connections, page cache) are not the loop.
      for (let i = -1; i < reps; i++) {
        await writePadded(fx.artifact, base, mib * MiB);
        const [summary] = await engine.run([fx.service]);
        const d = durations(summary!);
        if (summary!.status !== 'ok') throw new Error(`engine run failed at ${mib} MiB: ${summary!.error}`);

        await writePadded(fx.artifact, base, mib * MiB);
        const tag = `${repository}-plain:${mib}m-${i + 1}`;
        const plain = await runPlainCli({ artifact: fx.artifact, context: baselineContext, image: tag });
        await removeTag(tag);
        if (i < 0) continue;
        engineRuns.staging!.push(d.staging);
        engineRuns.image!.push(d.image);
        engineRuns.push!.push(d.push);
        engineRuns.both!.push(d.image + d.push);
        plainRuns.cp!.push(plain.cp!);
        plainRuns.build!.push(plain.build!);
        plainRuns.push!.push(plain.push!);
        plainRuns.both!.push(plain.build! + plain.push!);
      }
      ctx.log(`image-push ${mib} MiB: image+push median ${Math.round(summarize(engineRuns.both!).median)} ms, plain CLI ${Math.round(summarize(plainRuns.both!).median)} ms`);
      const s = 'image-push';
      figures.push(
        figure(s, `staging, ${mib} MiB`, 'ms', engineRuns.staging!, { baseline: { name: 'cp', samples: plainRuns.cp! } }),
        figure(s, `image, ${mib} MiB`, 'ms', engineRuns.image!, { baseline: { name: 'docker build', samples: plainRuns.build! } }),
        figure(s, `push, ${mib} MiB`, 'ms', engineRuns.push!, { baseline: { name: 'docker push', samples: plainRuns.push! } }),
        figure(s, `image + push, ${mib} MiB`, 'ms', engineRuns.both!, {
          baseline: { name: 'docker build + docker push', samples: plainRuns.both! },
          target: { on: 'ratio', limit: 0.5, text: 'ratio ≤ 0.5×' },
        }),
      );
      raw[`${mib}MiB`] = { engine: engineRuns, plainCli: plainRuns };
    }
  } finally {
    await engine.dispose();
  }
  return { figures, raw };
}

function durations(summary: RunSummary): Record<StageName, number> {
  const out = {} as Record<StageName, number>;
  for (const r of summary.records) out[r.stage] = r.durationMs;
  return out;
}
