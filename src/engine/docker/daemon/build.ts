import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { StageContext } from '../../stages/stage.js';
import { StageError } from '../../stages/stage.js';
import { bounded } from '../abort.js';
import { oneLine } from '../../text.js';
import type { DockerClient } from './client.js';
import { DOCKERFILE_NAME, packContext } from '../context/build-context.js';
import { imageLabels, type BuildPlan } from '../context/plan.js';
import { followProgress, Liveness } from './progress.js';
import { labelInstruction } from '../context/dockerfile.js';
import { formatDuration } from '../../../shared/format.js';

/** The tar's .dockerignore: the engine drops the listed files (only) before COPY sees the context. */
function dockerignoreFor(plan: BuildPlan): string {
  const own = `.dockerignore\n${DOCKERFILE_NAME}\n`;
  return plan.files.mode === 'compat' && plan.files.dockerignoreText !== undefined ? `${plan.files.dockerignoreText}\n${DOCKERFILE_NAME}\n` : own;
}

/**
 * Builds `ref` from the plan with the classic builder (no BuildKit session needed, works on every
 * engine), streaming output into the stage log. Returns the image ID. Any failure is one sentence,
 * mapped to the Dockerfile line when the engine names a step.
 */
export async function buildImage(client: DockerClient, plan: BuildPlan, ref: string, ctx: StageContext): Promise<string> {
  const built = await buildOnce(client, plan, ref, ctx, false);
  if (platformMatches(built, plan.image.platform)) return built.Id;
  // The classic builder's cache ignores the platform on FROM scratch: a layer cached by a build for
  // another platform carries that platform's config. Rare (mixed platforms), so rebuild uncached.
  ctx.log(`the builder cache gave a ${built.Os}/${built.Architecture} image for ${plan.image.platform}; rebuilding without the cache`, 'warn');
  const rebuilt = await buildOnce(client, plan, ref, ctx, true);
  if (!platformMatches(rebuilt, plan.image.platform)) {
    throw new StageError(`the engine built ${ref} for ${rebuilt.Os}/${rebuilt.Architecture}, not ${plan.image.platform}`);
  }
  return rebuilt.Id;
}

function platformMatches(image: Docker.ImageInspectInfo, platform: string): boolean {
  const [os, arch, variant] = platform.split('/');
  return image.Os === os && image.Architecture === arch && (!variant || !(image as { Variant?: string }).Variant || (image as { Variant?: string }).Variant === variant);
}

async function buildOnce(client: DockerClient, plan: BuildPlan, ref: string, ctx: StageContext, nocache: boolean): Promise<Docker.ImageInspectInfo> {
  const { timeouts, endpoint } = client;
  const deadline = bounded(ctx.signal, timeouts.buildMs);
  const liveness = new Liveness(client, ctx.signal, {
    silenceMs: timeouts.silenceMs,
    pingMs: timeouts.pingMs,
    dead: (quiet) =>
      new StageError(`Docker engine at ${endpoint.url} stopped answering mid-build (no output for ${formatDuration(quiet)} and no reply to a ping); nothing was tagged`, {
        hint: 'restart Docker and run again; the next run rebuilds from scratch',
      }),
  });
  const signal = AbortSignal.any([deadline.signal, liveness.signal]);
  const failed = (error: unknown): never => {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (liveness.signal.aborted) throw liveness.signal.reason;
    if (deadline.timedOut()) throw new StageError(`the image build did not finish within ${formatDuration(timeouts.buildMs)}; it was cancelled`);
    throw error;
  };

  const image = plan.image;
  // A user Dockerfile gets the labels as one appended line: its own line numbers stay as they are.
  const sent = plan.dockerfile.generated ? plan.dockerfile.text : `${plan.dockerfile.text.replace(/\s*$/, '')}\n${labelInstruction(imageLabels(plan.service, image.platform))}\n`;
  const tar = packContext(plan.files, [
    { name: DOCKERFILE_NAME, content: sent },
    { name: '.dockerignore', content: dockerignoreFor(plan) },
  ], signal);
  let sendError: NodeJS.ErrnoException | undefined;
  tar.on('error', (error) => (sendError ??= error));

  try {
    const response = await client
      .openStream('the build', signal, timeouts.buildMs, (s) =>
        client.docker.buildImage(tar, {
          t: ref,
          dockerfile: DOCKERFILE_NAME,
          buildargs: image.buildArgs,
          platform: image.platform,
          rm: true,
          nocache,
          forcerm: true, // no intermediate containers left behind by a failed step
          abortSignal: s,
        }),
      )
      .catch((error: unknown) => failed(mapOpenError(error, plan, sendError)));

    let step = 0;
    let text = '';
    let imageId: string | undefined;
    let engineError: string | undefined;
    const flush = (all: boolean) => {
      const lines = text.split('\n');
      text = all ? '' : lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        const match = /^Step (\d+)\/\d+ : /.exec(line);
        if (match) step = Number(match[1]);
        ctx.log(line.replace(/\r/g, ''), 'stdout');
      }
    };
    const { complete } = await followProgress(
      response as Readable,
      (message) => {
        if (message.stream) {
          text += message.stream;
          flush(false);
        }
        if (message.status) ctx.log(oneLine(`${message.status} ${message.progress ?? ''}`), 'stdout');
        if (message.aux?.ID) imageId = message.aux.ID;
        if (message.error) engineError = message.errorDetail?.message ?? message.error;
      },
      signal,
      () => liveness.touch(),
    ).catch(failed);
    flush(true);

    if (engineError !== undefined) throw stepError(plan, step, engineError);
    if (!complete) {
      failed(
        new StageError(`Docker engine at ${endpoint.url} closed the connection mid-build (it stopped or restarted); nothing was tagged`, {
          hint: 'start Docker again and run again; nothing needs cleaning up',
        }),
      );
    }
    const built = await client.inspectImage(ref, ctx.signal);
    if (!built) throw new StageError(`the build finished but ${ref} does not exist${imageId ? ` (engine reported ${imageId})` : ''}`);
    return built;
  } finally {
    liveness.stop();
    tar.destroy();
  }
}

/** The engine refused the build before running it: Dockerfile parse errors come back as HTTP 400. */
function mapOpenError(error: unknown, plan: BuildPlan, sendError: NodeJS.ErrnoException | undefined): unknown {
  // Reading the context failed (a file vanished or changed size mid-send): not the engine's fault.
  if (sendError && sendError.name !== 'AbortError') {
    return new StageError(`a build context file changed or disappeared while it was being sent (${oneLine(sendError.message)}); run again`, { cause: sendError });
  }
  const message = error instanceof StageError ? error.message : String((error as { message?: unknown } | null | undefined)?.message ?? error);
  const parse = /dockerfile parse error line (\d+): (.*)$/i.exec(message);
  if (parse) {
    return new StageError(`${plan.dockerfile.label} line ${parse[1]}: ${oneLine(parse[2]!)}`, { hint: 'fix the Dockerfile; nothing was built', cause: error });
  }
  return error;
}

/** "Step 3/4 : COPY api /api" + engine error → "Dockerfile line 3 (COPY api /api): …". */
function stepError(plan: BuildPlan, step: number, raw: string): StageError {
  const instruction = plan.parsed.instructions[step - 1];
  const cause = oneLine(raw)
    .replace(/^COPY failed: file not found in build context or excluded by \.dockerignore: stat (\S+): file does not exist$/, 'COPY source "$1" is not in the build context')
    .replace(/^(COPY|ADD) failed: /, '');
  if (!instruction) return new StageError(`image build failed${step ? ` at step ${step} (Tightloop's LABEL line)` : ''}: ${cause}`);
  const text = instruction.text.length > 60 ? `${instruction.text.slice(0, 57)}...` : instruction.text;
  return new StageError(`${plan.dockerfile.label} line ${instruction.line} (${text}): ${cause}`, {
    evidence: [`${plan.dockerfile.label}:${instruction.line}: ${instruction.text}`, oneLine(raw)],
  });
}
