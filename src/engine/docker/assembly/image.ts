import { createHash } from 'node:crypto';
import type { BuildContextFiles } from '../context/build-context.js';
import { copyLayer, folderLayer, measureLayer, type LayerBlob, type LayerCompression, type LayerRecipe } from './layers.js';
import type { DirectSpec } from './spec.js';
import { declaredRecipes } from './declared-layers.js';
import type { LayerMemo } from './layer-memo.js';

export const MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
export const CONFIG_MEDIA_TYPE = 'application/vnd.docker.container.image.v1+json';
const CREATED = '1970-01-01T00:00:00Z';

/** An image assembled in-process, ready to upload: what the push stage needs from the image stage. */
export interface DirectImage {
  /** <repository>:tl-… (image.repository, as the engine path names it). */
  ref: string;
  layers: LayerBlob[];
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  /** sha256 of the manifest bytes: what the registry must answer in Docker-Content-Digest. */
  digest: string;
  /** The manifest's media type when it is not a Docker v2 image manifest (an image index). */
  mediaType?: string;
  /** For an image index: the per-platform images it lists (pushed first, by digest). */
  children?: DirectImage[];
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Layers (one per COPY, plus one for WORKDIR folders), the image config and a Docker v2 schema 2
 * manifest: the format `docker push` writes, which Engine 20.10 and containerd pull, and which a
 * registry serves to clients that only accept Docker media types.
 */
export async function assembleImage(
  ref: string,
  platform: string,
  spec: DirectSpec,
  files: BuildContextFiles,
  compression: LayerCompression,
  signal: AbortSignal,
  keyed?: { memo: LayerMemo; log(text: string): void },
  /** Layers on top of the Dockerfile's (live mode: the agent). */
  extra: LayerRecipe[] = [],
): Promise<DirectImage> {
  let recipes = spec.copies.map((step) => copyLayer(step, files.entries));
  if (spec.layers?.length) recipes = declaredRecipes(spec.layers, files.entries, recipes);
  if (spec.workdirs.length) recipes.push(folderLayer(`WORKDIR ${spec.workdirs.join(' ')}`, spec.workdirs));
  recipes.push(...extra);
  const layers: LayerBlob[] = [];
  for (const recipe of recipes.filter((r) => r.entries.length)) {
    layers.push(keyed ? await keyed.memo.measure(recipe, compression, signal, keyed.log) : await measureLayer(recipe, compression, signal));
  }
  await keyed?.memo.save();

  const [os, architecture, variant] = platform.split('/');
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      os,
      ...(variant && { variant }),
      created: CREATED,
      config: {
        Env: spec.env,
        ...(spec.entrypoint && { Entrypoint: spec.entrypoint }),
        ...(spec.cmd && { Cmd: spec.cmd }),
        ...(spec.exposedPorts.length && { ExposedPorts: Object.fromEntries(spec.exposedPorts.map((p) => [p, {}])) }),
        ...(spec.user && { User: spec.user }),
        ...(spec.workingDir && { WorkingDir: spec.workingDir }),
        Labels: spec.labels,
      },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((l) => ({ created: CREATED, created_by: l.recipe.createdBy, comment: 'tightloop direct' })),
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      config: { mediaType: CONFIG_MEDIA_TYPE, size: config.length, digest: configDigest },
      layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
    }),
  );
  return { ref, layers, config, configDigest, manifest, digest: sha256(manifest) };
}
