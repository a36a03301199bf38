import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedService } from '../../config/resolved.js';
import type { StagedFile } from '../../stages/stage.js';
import { StageError } from '../../stages/stage.js';
import { listCompat, listStaging, type BuildContextFiles } from './build-context.js';
import { generateDockerfile, parseDockerfile, type ParsedDockerfile } from './dockerfile.js';
import { LABEL_MANAGED, LABEL_PLATFORM, LABEL_SERVICE } from '../reference.js';
import { DEFAULT_MAX_CONTEXT_BYTES } from '../options.js';
import { symlinkEscape } from '../../workspace-paths.js';

type ImageSpec = NonNullable<ResolvedService['image']>;

/** Tightloop's labels; the platform one also keeps the builder cache of different platforms apart. */
export function imageLabels(service: string, platform: string): Record<string, string> {
  return { [LABEL_MANAGED]: 'true', [LABEL_SERVICE]: service, [LABEL_PLATFORM]: platform };
}

/** Everything known about a build before Docker is involved. */
export interface BuildPlan {
  service: string;
  image: ImageSpec;
  files: BuildContextFiles;
  dockerfile: {
    text: string;
    /** How messages name it: a path relative to the config folder, or "generated Dockerfile". */
    label: string;
    generated: boolean;
    /** For a generated one: what it is made from (see `forEnginePlatform`). */
    entrypoint?: string;
  };
  parsed: ParsedDockerfile;
  maxContextBytes: number;
}

export interface PlanInput {
  service: ResolvedService;
  configRoot: string;
  /** From the stage step of this run; falls back to stage.dir from the config. */
  stagingDir?: string;
  stagedFiles?: StagedFile[];
  /** The context to judge instead of listing one (doctor: what the first run will stage). */
  files?: BuildContextFiles;
  /** settings.followSymlinksOutsideWorkspace: a link may lead the context or Dockerfile out. */
  followSymlinksOutsideWorkspace?: boolean;
}

/** Lists the context and reads (or generates) the Dockerfile. Throws only when there is nothing to build from. */
export async function planBuild(input: PlanInput, signal: AbortSignal): Promise<BuildPlan> {
  const { service } = input;
  const image = service.image;
  if (!image) throw new StageError(`service ${service.name} has no image section`);
  const compat = image.context !== undefined;
  const root = compat ? image.context! : (input.stagingDir ?? service.stage?.dir);
  if (!root) throw new StageError('no build context: the service has neither a stage section nor image.context');
  // Checked at build time too: a link made after the config loaded must not send outside files.
  if (!input.followSymlinksOutsideWorkspace) {
    for (const [target, what] of [[root, compat ? 'the build context' : 'the staging folder'], [image.dockerfile, 'the Dockerfile']] as const) {
      const refusal = target === undefined ? undefined : symlinkEscape(input.configRoot, target, what);
      if (refusal) throw new StageError(refusal);
    }
  }

  let files: BuildContextFiles;
  try {
    files = input.files ?? (compat ? await listCompat(root, signal, path.join(input.configRoot, '.tightloop')) : await listStaging(root, signal));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new StageError(compat ? `build context ${root} (image.context) does not exist` : `staging folder ${root} does not exist: nothing was staged`, {
        hint: compat ? 'fix image.context in tightloop.yaml' : 'run the stage step first; check stage.files',
      });
    }
    throw error;
  }

  let text: string;
  let label: string;
  let entrypoint: string | undefined;
  const generated = !image.dockerfile;
  if (image.dockerfile) {
    label = path.relative(input.configRoot, image.dockerfile) || image.dockerfile;
    text = await readFile(image.dockerfile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new StageError(`cannot read the Dockerfile ${label}: ${error.code === 'ENOENT' ? 'it does not exist' : error.message}`);
    });
  } else {
    if (compat) throw new StageError('image.context (compatibility mode) needs image.dockerfile: there is no staging folder to generate one from');
    label = 'generated Dockerfile';
    entrypoint = entrypointFor(service, files, input.stagedFiles);
    text = generateDockerfile(image.base, entrypoint, imageLabels(service.name, image.platform));
  }
  return {
    service: service.name,
    image,
    files,
    dockerfile: { text, label, generated, entrypoint },
    parsed: parseDockerfile(text, image.buildArgs),
    maxContextBytes: image.maxContextBytes ?? DEFAULT_MAX_CONTEXT_BYTES,
  };
}

/** A generated Dockerfile for a platform other than the engine's own: COPY first (see generateDockerfile). */
export function forEnginePlatform(plan: BuildPlan, enginePlatform: string): BuildPlan {
  if (!plan.dockerfile.generated || plan.image.platform === enginePlatform) return plan;
  const text = generateDockerfile(plan.image.base, plan.dockerfile.entrypoint!, imageLabels(plan.service, plan.image.platform), false);
  return { ...plan, dockerfile: { ...plan.dockerfile, text }, parsed: parseDockerfile(text, plan.image.buildArgs) };
}

function entrypointFor(service: ResolvedService, files: BuildContextFiles, staged: StagedFile[] | undefined): string {
  const regular = files.entries.filter((e) => e.type === 'file').map((e) => e.path);
  const first = service.stage?.files[0]?.to.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  if (first && regular.includes(first)) return first;
  if (first) {
    const below = regular.find((p) => p.startsWith(first + '/'));
    if (below) return below;
  }
  return staged?.[0]?.path ?? first ?? regular[0] ?? 'app';
}
