import type Docker from 'dockerode';
import { execa } from 'execa';
import type { Readable } from 'node:stream';
import type { Stage, StageContext, StageResult } from '../stages/stage.js';
import { StageError } from '../stages/stage.js';
import { bounded, type Bounded } from './abort.js';
import { oneLine } from '../text.js';
import { withRetries, type Transient } from '../retry.js';
import { afterRetries } from './registry/transient.js';
import { registryCredentials } from './registry/auth.js';
import type { DockerClient } from './daemon/client.js';
import { decideDelivery, type Delivery } from './delivery.js';
import { collectGarbage } from './daemon/image-gc.js';
import { DirectRegistry } from './registry/session.js';
import { formatBytes, formatDuration } from '../../shared/format.js';
import { followProgress, Liveness } from './daemon/progress.js';
import { splitTag } from './reference.js';
import { collectRegistryGarbage, PushRecord } from './registry/tag-gc.js';
import type { DirectUpload } from './handoffs.js';
import type { DockerRuntime } from './runtime.js';

/** push: deliver the image the way the cluster can run it, and say which way and why. */
export function createPushStage(runtime: DockerRuntime): Stage {
  return {
    name: 'push',
    skipReason: (ctx) => (ctx.service.image ? undefined : 'no image configured'),
    async run(ctx: StageContext): Promise<StageResult> {
      const handoff = ctx.handoffs.image;
      const imageRef = ctx.outputs.imageRef;
      if (!imageRef) throw new StageError('there is no image to deliver: the image stage produced none');
      if (handoff?.direct && handoff.ref === imageRef) return pushDirect(ctx, runtime, handoff.direct);
      // The image stage was skipped (inputs unchanged) and carried the last success's image forward:
      // that image was delivered then, so its delivery is carried forward too.
      const last = ctx.lastSuccess;
      if (!handoff && last?.imageRef === imageRef && last.deployRef) {
        return {
          status: 'skipped',
          detail: `image unchanged (carried forward from the last successful run): deploying ${last.deployRef}`,
          outputs: { deployRef: last.deployRef, ...(last.digest && { digest: last.digest }), ...(last.delivery && { delivery: last.delivery }) },
        };
      }
      const result = await deliver(ctx, runtime, imageRef, handoff?.ref === imageRef ? handoff.delivery : undefined);
      // Direct pushes leave nothing in the engine; only engine-built images need collecting.
      cleanUpLater(ctx, runtime);
      return result;
    },
  };
}

/**
 * Keeps the newest N images of the service. Started once the image is delivered and run in the
 * background, so it never competes with the build or the push (nor delays the deploy); the next
 * image stage of the service waits for it before looking for its tag.
 */
function cleanUpLater(ctx: StageContext, runtime: DockerRuntime): void {
  const protect = new Set([ctx.outputs.imageId, ctx.lastSuccess?.imageId].filter((id): id is string => !!id));
  let client: DockerClient;
  try {
    client = runtime.client();
  } catch {
    return; // no engine to clean up in; the next delivery tries again
  }
  runtime.background(ctx.service.name, (stopping) =>
    collectGarbage(client, ctx.service.name, ctx.service.image!.keep, protect, (text, stream) => ctx.log(text, stream), AbortSignal.any([ctx.signal, stopping])),
  );
}

/** The image stage assembled the image in-process (or found its tag in the registry): upload it, no engine. */
async function pushDirect(ctx: StageContext, runtime: DockerRuntime, upload: DirectUpload): Promise<StageResult> {
  // The delivery this image was assembled for: decided once, by the image stage, for the whole run.
  const { registry } = upload;
  const delivery = registry.delivery;
  ctx.log(`delivery: ${delivery.mode}: ${delivery.why}`, 'info');
  const tag = splitTag(ctx.outputs.imageRef!)[1];
  const deployRefOf = (digest: string) => `${delivery.pullRepository}@${digest}`;
  if (upload.existingDigest) {
    const digest = upload.existingDigest;
    await recordAndCollect(ctx, runtime, registry, { tag, digest }, true);
    return {
      status: 'skipped',
      detail: `unchanged tag already in registry ${delivery.registry} (${upload.why}); deploy by digest ${digest.slice(0, 19)}…`,
      outputs: { digest, deployRef: deployRefOf(digest), delivery: 'push' },
    };
  }
  if (!upload.image) throw new StageError(`there is no assembled image for ${ctx.outputs.imageRef} to push to ${delivery.registry}`);
  const image = upload.image;
  ctx.log(`pushing ${delivery.pushRepository}:${tag} straight to the registry (credentials: ${registry.credentialSource})`, 'info');
  const pushed = await registry.push(image, tag, ctx.signal, (text, level) => ctx.log(text, level ?? 'stdout'));
  ctx.log(`pushed ${delivery.pushRepository}:${tag} → ${deployRefOf(image.digest)}`, 'info');
  await recordAndCollect(ctx, runtime, registry, { tag, digest: image.digest, ...(image.children && { children: image.children.map((c) => c.digest) }) }, false);
  return {
    detail: `pushed to ${delivery.registry} directly (${delivery.why}): ${pushed.uploaded} of ${pushed.total} blobs uploaded (${formatBytes(pushed.bytes)}), ${upload.why}; deploy by digest ${image.digest.slice(0, 19)}…`,
    outputs: { digest: image.digest, deployRef: deployRefOf(image.digest), delivery: 'push' },
  };
}

/**
 * Records the tag as ours (or, found already in the registry, marks our own record of it as newest)
 * and starts the registry GC in the background, queued like the engine GC: the next image stage of
 * the service waits for it before looking its tag up. Neither can fail the push.
 */
async function recordAndCollect(ctx: StageContext, runtime: DockerRuntime, registry: DirectRegistry, pushed: { tag: string; digest: string; children?: string[] }, found: boolean): Promise<void> {
  const { tag, digest } = pushed;
  const record = new PushRecord(ctx.config.root, ctx.service.name);
  try {
    await record.add({ repository: registry.delivery.pushRepository, ...pushed }, found);
  } catch (error) {
    ctx.log(`could not record ${tag} in ${record.file} (it will not be cleaned up): ${oneLine((error as Error).message)}`, 'warn');
  }
  const protect = new Set([digest, ctx.outputs.digest, ctx.lastSuccess?.digest].filter((d): d is string => !!d));
  runtime.background(ctx.service.name, (stopping) =>
    collectRegistryGarbage(registry, record, ctx.service.image!.keep, protect, (text, stream) => ctx.log(text, stream), AbortSignal.any([ctx.signal, stopping]), runtime.timeouts.registryGcMs),
  );
}

/**
 * An engine push leaves its tl- tag in the registry just like a direct push: record it in the same
 * per-service record and run the same registry GC, so `image.keep` holds whichever path pushed.
 * Never fails the push (no registry session: a warning, and the tag is collected next time).
 */
async function recordEnginePush(ctx: StageContext, runtime: DockerRuntime, delivery: Extract<Delivery, { mode: 'push' }>, tag: string, digest: string): Promise<void> {
  let registry: DirectRegistry;
  try {
    registry = await DirectRegistry.open(runtime, delivery, ctx.signal);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    ctx.log(`registry GC skipped for ${delivery.pushRepository}: ${oneLine((error as Error).message)}`, 'warn');
    return;
  }
  await recordAndCollect(ctx, runtime, registry, { tag, digest }, false);
}

async function deliver(ctx: StageContext, runtime: DockerRuntime, imageRef: string, decided: Delivery | undefined): Promise<StageResult> {
  const delivery = decided ?? (await decideDelivery(ctx, runtime.config, runtime.timeouts.clusterFactsMs));
  ctx.log(`delivery: ${delivery.mode}: ${delivery.why}`, 'info');

  if (delivery.mode === 'shared-daemon') {
    return {
      status: 'skipped',
      detail: `shared daemon, no push: ${delivery.why}; deploying ${imageRef}`,
      outputs: { deployRef: imageRef, delivery: 'shared-daemon' },
    };
  }
  const client = runtime.client();
  if (delivery.mode === 'kind-load') {
    await kindLoad(ctx, runtime, client, imageRef, delivery.cluster);
    return { detail: `kind load into "${delivery.cluster}" (slow): ${delivery.why}`, outputs: { deployRef: imageRef, delivery: 'kind-load' } };
  }
  const digest = await push(ctx, runtime, client, imageRef, delivery);
  await recordEnginePush(ctx, runtime, delivery, splitTag(imageRef)[1], digest);
  const deployRef = `${delivery.pullRepository}@${digest}`;
  return {
    detail: `pushed to ${delivery.registry} (${delivery.why}); deploy by digest ${digest.slice(0, 19)}…`,
    outputs: { digest, deployRef, delivery: 'push' },
  };
}

async function push(ctx: StageContext, runtime: DockerRuntime, client: DockerClient, imageRef: string, delivery: Extract<Delivery, { mode: 'push' }>): Promise<string> {
  const { timeouts } = runtime;
  const tag = splitTag(imageRef)[1];
  const target = `${delivery.pushRepository}:${tag}`;
  if (target !== imageRef) {
    await client.api(`tag ${target}`, ctx.signal, (s) => client.docker.getImage(imageRef).tag({ repo: delivery.pushRepository, tag, abortSignal: s }));
  }
  const credentials = await registryCredentials(delivery.registry, {
    configDir: runtime.dockerConfigDir,
    env: runtime.env,
    signal: ctx.signal,
    timeoutMs: timeouts.credentialHelperMs,
  });
  ctx.log(`pushing ${target} (credentials: ${credentials.source})`, 'info');
  // One deadline for every attempt: retries never stretch the push past push timeout.
  const deadline = bounded(ctx.signal, timeouts.pushMs);
  const attempt = () => pushOnce(ctx, runtime, client, { target, tag, delivery, auth: credentials.auth, credentialSource: credentials.source }, deadline);
  // The engine retries a failed layer upload itself, but not a failed manifest PUT nor a broken
  // connection at the end: those are retried here, as on the direct path. Layers already pushed
  // are "already exists" the second time, so a retry costs little.
  const digest = await withRetries(attempt, { policy: runtime.retry, signal: deadline.signal, doing: `push ${target}`, transient: enginePushTransient, log: (text) => ctx.log(text, 'warn') }, afterRetries).catch((error: unknown) => {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (deadline.timedOut()) throw new StageError(`the push to ${delivery.registry} did not finish within ${formatDuration(timeouts.pushMs)}`);
    throw error;
  });
  ctx.log(`pushed ${target} → ${delivery.pullRepository}@${digest}`, 'info');
  return digest;
}

interface EnginePush {
  target: string;
  tag: string;
  delivery: Extract<Delivery, { mode: 'push' }>;
  auth: unknown;
  credentialSource: string;
}

/** One `docker push` through the Engine API, watched for a silent engine and a stalled registry. */
async function pushOnce(ctx: StageContext, runtime: DockerRuntime, client: DockerClient, push: EnginePush, deadline: Bounded): Promise<string> {
  const { timeouts } = runtime;
  const { target, tag, delivery } = push;
  const registryDown = (cause: string) =>
    new StageError(`registry ${delivery.registry} is not reachable from the Docker engine: ${cause}`, {
      hint: `start the registry at ${delivery.registry} (or fix docker.registry), then run again`,
    });
  const liveness = new Liveness(client, ctx.signal, {
    silenceMs: timeouts.silenceMs,
    pingMs: timeouts.pingMs,
    dead: (quiet) => new StageError(`Docker engine at ${client.endpoint.url} stopped answering mid-push (no progress for ${formatDuration(quiet)} and no reply to a ping)`),
    stallMs: timeouts.pushStallMs,
    stalled: (quiet) => registryDown(`no push progress for ${formatDuration(quiet)}`),
  });
  const signal = AbortSignal.any([deadline.signal, liveness.signal]);
  const failed = (error: unknown): never => {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (liveness.signal.aborted) throw liveness.signal.reason;
    throw error;
  };

  try {
    const stream = await client
      .openStream('the push', signal, timeouts.apiMs, (s) =>
        client.docker.getImage(target).push({ tag, abortSignal: s, ...(push.auth !== undefined && { authconfig: push.auth as Docker.AuthConfig }) }),
      )
      .catch(failed);
    let digest: string | undefined;
    let engineError: string | undefined;
    const layerStates = new Map<string, string>();
    const { complete } = await followProgress(
      stream as Readable,
      (message) => {
        if (message.error) engineError = message.errorDetail?.message ?? message.error;
        if (message.aux?.Digest) digest = message.aux.Digest;
        const status = message.status;
        if (!status) return;
        // Progress bars would flood the log: one line per layer state change is enough.
        if (message.id && /^(Preparing|Waiting|Pushing)$/.test(status)) {
          if (layerStates.get(message.id) === status) return;
          layerStates.set(message.id, status);
          if (status !== 'Pushing') return;
        }
        ctx.log(message.id ? `${message.id}: ${status}` : status, 'stdout');
        digest ??= /digest: (sha256:[0-9a-f]{64})/.exec(status)?.[1];
      },
      signal,
      () => liveness.touch(),
    ).catch(failed);

    if (engineError !== undefined) throw pushError(engineError, delivery.registry, push.credentialSource, registryDown);
    if (!complete) failed(new StageError(`Docker engine at ${client.endpoint.url} closed the connection mid-push (it stopped or restarted)`));
    if (!digest) throw new StageError(`the push of ${target} ended without a digest`);
    return digest;
  } finally {
    liveness.stop();
  }
}

/** A push the engine reported as failed; `transient` names why another attempt may succeed. */
class EnginePushError extends StageError {
  constructor(
    message: string,
    readonly transient: string | undefined,
    options: ConstructorParameters<typeof StageError>[1] = {},
  ) {
    super(message, options);
  }
}

function enginePushTransient(error: unknown): Transient | undefined {
  return error instanceof EnginePushError && error.transient ? { cause: error.transient } : undefined;
}

function pushError(raw: string, registry: string, credentialSource: string, registryDown: (cause: string) => StageError): StageError {
  const cause = oneLine(raw);
  if (/unauthorized|authentication required|no basic auth credentials|denied|forbidden|401/i.test(cause)) {
    return new StageError(`registry ${registry} refused the push: ${cause} (credentials: ${credentialSource})`, {
      hint: `run \`docker login ${registry}\` (or fix the credential helper), then run again`,
    });
  }
  // Not there at all: another attempt would only delay the clear error.
  if (/connection refused|no such host|dial tcp|i\/o timeout|no route to host|server gave HTTP response/i.test(cause)) return registryDown(cause);
  // The registry answered 5xx/429, or the connection broke mid-push: worth another attempt.
  const status = /unexpected HTTP status: ((?:5\d\d|429)[^,;]*)/i.exec(cause)?.[1];
  if (status) return new EnginePushError(`push to ${registry} failed: ${cause}`, `the registry answered ${status}`);
  const broke = /connection reset by peer|broken pipe|\bEOF\b/i.exec(cause)?.[0];
  if (broke) {
    const down = registryDown(cause);
    return new EnginePushError(down.message, `the connection broke (${broke})`, down.options);
  }
  return new StageError(`push to ${registry} failed: ${cause}`);
}

async function kindLoad(ctx: StageContext, runtime: DockerRuntime, client: DockerClient, imageRef: string, cluster: string): Promise<void> {
  ctx.log('kind load copies the whole image into every node and is slow; a local registry (kube-public/local-registry-hosting) is much faster', 'warn');
  const subprocess = execa('kind', ['load', 'docker-image', '--name', cluster, imageRef], {
    env: { ...runtime.env, DOCKER_HOST: client.endpoint.url },
    extendEnv: false,
    cancelSignal: ctx.signal,
    timeout: runtime.timeouts.kindLoadMs,
    reject: false,
    all: true,
  });
  subprocess.all.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) ctx.log(line, 'stdout');
  });
  const result = await subprocess;
  if (result.isCanceled) throw ctx.signal.reason;
  if ((result as { code?: string }).code === 'ENOENT') throw new StageError('`kind` is not on PATH, so the image cannot be loaded into the kind cluster', { hint: 'install kind, or run a local registry for the cluster' });
  if (result.timedOut) throw new StageError(`kind load did not finish within ${formatDuration(runtime.timeouts.kindLoadMs)}`);
  if (result.exitCode !== 0) {
    const last = result.all.trim().split('\n').pop() ?? '';
    throw new StageError(`kind load docker-image failed (exit ${result.exitCode}): ${oneLine(last)}`);
  }
}
