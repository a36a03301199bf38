import type { ResolvedConfig, ResolvedService } from '../config/resolved.js';
import { StageError, type RunHandoffs, type RunOutputs, type StageContext, type StageSet } from '../stages/stage.js';
import type { BackgroundImageState, LogStream, RunTrigger } from '../types.js';

/** How a background image build ended (the `background-image` event's final state and sentence). */
export interface BackgroundImageResult {
  state: Exclude<BackgroundImageState, 'started'>;
  ref?: string;
  detail: string;
}

/**
 * After a live sync (issue 13 item 4): build and push the image of the content the pods now run,
 * through the same image and push stages a full delivery uses, so its content tag is in the
 * registry (or the shared engine) when a full rollout is next needed and that rollout skips both.
 * It never deploys and never touches the pods. Its outputs are thrown away: the pods still run the
 * image they were started from, and the run's record says so.
 *
 * `last` is the service's last success after the live run: its staging folder and staged files
 * are what the pods now run, and its image is what they were started from (the push stage keeps
 * that image from the image clean-up).
 */
export async function buildImageInBackground(args: {
  config: ResolvedConfig;
  service: ResolvedService;
  stages: Pick<StageSet, 'image' | 'push' | 'cluster'>;
  runId: string;
  trigger: RunTrigger;
  last: Partial<RunOutputs>;
  signal: AbortSignal;
  log: (text: string, stream: LogStream) => void;
}): Promise<BackgroundImageResult> {
  const { image, push } = args.stages;
  if (!image || !push || !args.service.image) return { state: 'failed', detail: 'no image or push stage to build it with' };
  const outputs: Partial<RunOutputs> = { stagingDir: args.last.stagingDir, stagingHash: args.last.stagingHash, stagedFiles: args.last.stagedFiles };
  const handoffs: Partial<RunHandoffs> = {};
  const ctx: StageContext = {
    config: args.config,
    service: args.service,
    runId: args.runId,
    signal: args.signal,
    trigger: args.trigger,
    outputs,
    handoffs,
    lastSuccess: args.last,
    cluster: args.stages.cluster,
    log: args.log,
    // Diagnostics belong to compiles; the image and push stages publish none.
    diagnostics: () => {},
  };
  let current = image.name;
  try {
    for (const stage of [image, push]) {
      current = stage.name;
      const reason = stage.skipReason?.(ctx);
      if (reason) return { state: 'failed', detail: `${stage.name} not possible: ${reason}` };
      const result = await stage.run(ctx);
      if (args.signal.aborted) throw new StageError('cancelled');
      Object.assign(outputs, result.outputs);
      Object.assign(handoffs, result.handoffs);
      if (result.detail) args.log(`${stage.name} ${result.status ?? 'ok'}: ${result.detail}`, 'info');
    }
  } catch (error) {
    if (args.signal.aborted) return { state: 'cancelled', detail: `cancelled: ${reasonOf(args.signal)}` };
    return { state: 'failed', detail: `${current} failed: ${(error as Error).message.split('\n')[0]}` };
  }
  const ref = outputs.imageRef!;
  const where = outputs.delivery === 'push' ? `pushed (${outputs.deployRef ?? ref})` : outputs.delivery === 'shared-daemon' ? 'built in the shared Docker engine' : `delivered (${outputs.delivery ?? 'unknown'})`;
  return { state: 'done', ref, detail: `image for this content ${where} in the background (tag ${ref.slice(ref.lastIndexOf(':') + 1)}): a full rollout of it skips the build and the push` };
}

function reasonOf(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'superseded';
}
