import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { ResolvedService } from '../config/resolved.js';
import type { DockerClient } from '../docker/daemon/client.js';
import { followProgress } from '../docker/daemon/progress.js';
import { StageError } from '../stages/stage.js';
import { agentBinaryFor, liveEntrypoint } from './image.js';
import { liveTagSalt } from './image-layer.js';
import { AGENT_PATH } from './protocol.js';

type Live = NonNullable<ResolvedService['live']>;

/**
 * What live mode adds to the content tag on the engine path. The image's own entrypoint comes from
 * the Dockerfile (already in the tag), so the agent's bytes and the live wrapper decide the rest.
 */
export async function engineLiveTagSalt(live: Live, platform: string): Promise<string> {
  return liveTagSalt(await readFile(agentBinaryFor(platform)), liveEntrypoint(live, undefined));
}

/**
 * The engine path's image in live mode: one more build on top of the image just built, adding the
 * agent as its own layer and making it the entrypoint around the image's own (read from the built
 * image, so an ENTRYPOINT inherited from a base is wrapped too); CMD is set again as it was, since a
 * new ENTRYPOINT would reset it. Tags `ref` and returns the image ID.
 */
export async function wrapForLive(client: DockerClient, live: Live, platform: string, baseId: string, ref: string, signal: AbortSignal, log: (text: string) => void): Promise<string> {
  const base = await client.inspectImage(baseId, signal);
  if (!base) throw new StageError(`the image just built (${baseId}) is gone from the engine; run again`);
  const entrypoint = liveEntrypoint(live, base.Config.Entrypoint ? [...(typeof base.Config.Entrypoint === 'string' ? [base.Config.Entrypoint] : base.Config.Entrypoint)] : undefined);
  // The Engine API answers `Cmd: null` for an image without CMD (the types say never).
  const cmd = base.Config.Cmd as string[] | null;
  const dockerfile = [`FROM ${baseId}`, `COPY agent ${AGENT_PATH}`, `ENTRYPOINT ${JSON.stringify(entrypoint)}`, ...(cmd?.length ? [`CMD ${JSON.stringify(cmd)}`] : [])].join('\n') + '\n';
  const pack = tar.pack();
  pack.entry({ name: 'Dockerfile', mode: 0o644, mtime: new Date(0) }, dockerfile);
  pack.entry({ name: 'agent', mode: 0o755, mtime: new Date(0) }, await readFile(agentBinaryFor(platform)));
  pack.finalize();

  const response = await client.docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: ref, platform, rm: true, forcerm: true, abortSignal: signal } as object);
  let engineError: string | undefined;
  const { complete } = await followProgress(
    response as unknown as Readable,
    (message) => {
      if (message.error) engineError = message.errorDetail?.message ?? message.error;
    },
    signal,
    () => {},
  );
  if (engineError !== undefined || !complete) throw new StageError(`adding the live-update agent to ${ref} failed: ${engineError ?? 'the engine closed the connection'}`);
  const wrapped = await client.inspectImage(ref, signal);
  if (!wrapped) throw new StageError(`adding the live-update agent finished but ${ref} does not exist`);
  log(`live mode: ${AGENT_PATH} added as one layer and made the entrypoint (${entrypoint.slice(entrypoint.indexOf('--') + 1).join(' ') || 'no entrypoint'} runs as its child)`);
  return wrapped.Id;
}
