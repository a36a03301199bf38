import { createHash } from 'node:crypto';
import { baseImages } from './context/dockerfile.js';
import type { BuildPlan } from './context/plan.js';

/**
 * The tag covers everything that decides the image: staged bytes, Dockerfile, build args,
 * platform, the service label, and the IDs of external base images (a rebuilt base → new tag).
 */
export async function tagHash(plan: BuildPlan, contentHash: string, baseId: (base: string) => Promise<string | undefined>): Promise<string> {
  const hash = createHash('sha256')
    .update('tightloop-image v1\n')
    .update(`service ${plan.service}\nplatform ${plan.image.platform}\ncontext ${contentHash}\n`)
    .update(`dockerfile ${plan.dockerfile.text}\n`)
    .update(`dockerignore ${plan.files.dockerignoreText ?? ''}\n`);
  for (const [key, value] of Object.entries(plan.image.buildArgs).sort(([a], [b]) => a.localeCompare(b))) hash.update(`arg ${key}=${value}\n`);
  for (const base of baseImages(plan.parsed)) {
    hash.update(`base ${base} ${(await baseId(base)) ?? 'absent'}\n`);
  }
  return hash.digest('hex');
}
