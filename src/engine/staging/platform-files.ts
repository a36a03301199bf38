import path from 'node:path';
import type { ResolvedService } from '../config/resolved.js';
import { imagePlatforms, platformFolder, substitutePlatform } from '../platform.js';

type StageFile = NonNullable<ResolvedService['stage']>['files'][number];

/**
 * The files to stage, per image platform: `${arch}`-style values in `from` filled in; with several
 * platforms each platform's files go to its own subfolder (linux-amd64/, linux-arm64/), which the
 * image stage turns into one image per platform.
 */
export function platformStageFiles(service: ResolvedService): StageFile[] {
  const files = service.stage!.files;
  const platforms = imagePlatforms(service.image);
  if (platforms.length === 0) return files;
  if (platforms.length === 1) return files.map((f) => ({ ...f, from: substitutePlatform(f.from, platforms[0]!) }));
  return platforms.flatMap((platform) => files.map((f) => ({ ...f, from: substitutePlatform(f.from, platform), to: path.posix.join(platformFolder(platform), f.to) })));
}
