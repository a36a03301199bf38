import { createHash } from 'node:crypto';
import path from 'node:path';
import type Docker from 'dockerode';
import type { CompileContainer } from '../../config/resolved.js';
import { StageError } from '../../stages/stage.js';
import type { DockerClient } from '../../docker/daemon/client.js';
import { LABEL_MANAGED, LABEL_SERVICE } from '../../docker/reference.js';

export const LABEL_ROLE = 'dev.tightloop.role';
export const LABEL_WORKSPACE = 'dev.tightloop.workspace';
export const LABEL_CONFIG_HASH = 'dev.tightloop.config-hash';

/** Keeps the container alive doing nothing, and exits at once on docker stop. */
const IDLE = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

export interface KeptContainer {
  id: string;
  name: string;
  /** What happened: created, started (it existed, stopped), reused (running), recreated (config changed). */
  state: 'created' | 'started' | 'reused' | 'recreated';
  why?: string;
}

/** The kept build container of one service in one workspace: a stable name. */
export function buildContainerName(root: string, service: string): string {
  const safe = service.replace(/[^a-zA-Z0-9_.-]/g, '-');
  return `tightloop-build-${safe}-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
}

export function cacheVolumeName(name: string): string {
  return `tightloop-cache-${name}`;
}

/**
 * Starts the service's dev build container once and keeps it: running → reused as is; stopped →
 * started; its image ID, mounts, caches, env or network changed (the config hash label differs) →
 * removed and created again. Cache volumes are named volumes, so they outlive any recreation.
 */
export async function ensureBuildContainer(
  client: DockerClient,
  owner: { root: string; service: string },
  spec: CompileContainer,
  signal: AbortSignal,
): Promise<KeptContainer> {
  const image = await client.inspectImage(spec.image, signal);
  if (!image) {
    throw new StageError(`the build container image ${spec.image} is not in the Docker engine at ${client.endpoint.url}`, {
      hint: 'build or pull it first (compile.container.image)',
    });
  }
  const name = buildContainerName(owner.root, owner.service);
  const hash = configHash(owner.root, spec, image.Id);
  const container = client.docker.getContainer(name);
  const existing = await inspectContainer(client, name, signal);
  let why: string | undefined;
  if (existing) {
    // The Engine API answers `Labels: null` for a container without labels (the types say never).
    if ((existing.Config.Labels as Record<string, string> | null)?.[LABEL_CONFIG_HASH] === hash) {
      if (existing.State.Running) return { id: existing.Id, name, state: 'reused' };
      await client.api(`start ${name}`, signal, (s) => container.start({ abortSignal: s }));
      return { id: existing.Id, name, state: 'started' };
    }
    why = existing.Image !== image.Id ? `its image ${spec.image} changed` : 'compile.container changed';
    await client.api(`remove ${name}`, signal, (s) => container.remove({ force: true, abortSignal: s }));
  }

  for (const cache of spec.caches) {
    const volume = cacheVolumeName(cache.name);
    // Creating an existing named volume returns it as it is: the cache survives.
    await client.api(`create volume ${volume}`, signal, () =>
      client.docker.createVolume({ Name: volume, Labels: { [LABEL_MANAGED]: 'true', [LABEL_ROLE]: 'build-cache' } } as Docker.VolumeCreateOptions),
    );
  }
  const created = await client.api(`create ${name}`, signal, (s) =>
    client.docker.createContainer({
      name,
      Image: image.Id,
      Entrypoint: IDLE,
      Cmd: [],
      WorkingDir: spec.workdir,
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      Labels: { [LABEL_MANAGED]: 'true', [LABEL_ROLE]: 'build', [LABEL_SERVICE]: owner.service, [LABEL_WORKSPACE]: owner.root, [LABEL_CONFIG_HASH]: hash, 'dev.tightloop.image': spec.image },
      HostConfig: {
        Binds: [`${owner.root}:${spec.workdir}`, ...spec.mounts.map((m) => `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`)],
        Mounts: spec.caches.map((c) => ({ Type: 'volume' as const, Source: cacheVolumeName(c.name), Target: c.target })),
        ...(spec.network && { NetworkMode: spec.network }),
      },
      abortSignal: s,
    } as Docker.ContainerCreateOptions),
  );
  await client.api(`start ${name}`, signal, (s) => created.start({ abortSignal: s }));
  return { id: created.id, name, state: why ? 'recreated' : 'created', ...(why && { why }) };
}

/** What decides the container: a different hash means it is recreated. */
function configHash(root: string, spec: CompileContainer, imageId: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ v: 1, imageId, root, workdir: spec.workdir, mounts: spec.mounts, caches: spec.caches, env: spec.env, network: spec.network ?? null }))
    .digest('hex');
}

async function inspectContainer(client: DockerClient, name: string, signal: AbortSignal): Promise<Docker.ContainerInspectInfo | undefined> {
  return client
    .api(`inspect container ${name}`, signal, (s) => client.docker.getContainer(name).inspect({ abortSignal: s }))
    .catch((error: unknown) => {
      if (error instanceof StageError && (error.options.cause as { statusCode?: number } | undefined)?.statusCode === 404) return undefined;
      throw error;
    });
}

/** For doctor: the kept container's state in one sentence, and whether the next compile can use it. */
export async function describeBuildContainer(
  client: DockerClient,
  owner: { root: string; service: string },
  spec: CompileContainer,
  signal: AbortSignal,
): Promise<{ status: 'ok' | 'warn' | 'fail'; message: string }> {
  const image = await client.inspectImage(spec.image, signal);
  const name = buildContainerName(owner.root, owner.service);
  if (!image) return { status: 'fail', message: `build container image ${spec.image} is not in the Docker engine: build or pull it (compile.container.image)` };
  const existing = await inspectContainer(client, name, signal);
  if (!existing) return { status: 'ok', message: `build container ${name} (${spec.image}) not started yet: the first compile starts it` };
  const current = (existing.Config.Labels as Record<string, string> | null)?.[LABEL_CONFIG_HASH] === configHash(owner.root, spec, image.Id);
  const state = existing.State.Running ? `running since ${existing.State.StartedAt}` : `stopped (${existing.State.Status})`;
  return { status: 'ok', message: `build container ${name} (${spec.image}): ${state}${current ? '' : '; its image or settings changed, so the next compile recreates it'}` };
}

/** compile.cwd on the host → the same folder inside the container (below the workspace mount). */
export function containerPath(root: string, workdir: string, hostPath: string): string {
  const relative = path.relative(root, hostPath);
  if (relative === '') return workdir;
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new StageError(`compile.cwd ${hostPath} is outside the workspace ${root}, which is all the build container sees`);
  }
  return path.posix.join(workdir, ...relative.split(path.sep));
}
