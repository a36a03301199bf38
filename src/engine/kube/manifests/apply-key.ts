import { createHash } from 'node:crypto';
import type { PrepareOptions } from './prepare.js';
import type { ManifestTexts } from './source.js';

/**
 * The key of one apply decision, computed without parsing: the manifests' bytes (files and render
 * output, with their names), everything else that shapes the applied objects (service, project,
 * namespace, image reference, image fields) and the cluster target (context and API server URL).
 * Equal to the key recorded after the last complete apply → the same objects would be applied to
 * the same cluster: nothing to send. Parsing YAML is what a no-op run must not pay for (a chart's
 * CustomResourceDefinitions easily take hundreds of milliseconds).
 */

/** Bump when prepareObjects changes what it makes of the same input. */
const PREPARE_VERSION = 1;

export interface ClusterTarget {
  context: string;
  server: string;
}

export function applyKey(texts: ManifestTexts, options: PrepareOptions, target: ClusterTarget): string {
  const hash = createHash('sha256').update(JSON.stringify([PREPARE_VERSION, options, target]));
  for (const part of texts.parts) {
    const bytes = Buffer.from(part.text, 'utf8');
    hash.update(`\0${part.file}\0${bytes.length}\0`).update(bytes);
  }
  return hash.digest('hex');
}
