import { createHash } from 'node:crypto';
import { MANIFEST_MEDIA_TYPE, type DirectImage } from './image.js';

export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

/**
 * An OCI image index over one assembled image per platform: each entry names its manifest and the
 * platform it runs on (os, architecture, variant), so a node pulls the one for its architecture.
 * The index is what gets the tag; the per-platform manifests are pushed by digest.
 */
export function imageIndex(ref: string, images: { platform: string; image: DirectImage }[]): DirectImage {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX_MEDIA_TYPE,
      manifests: images.map(({ platform, image }) => {
        const [os, architecture, variant] = platform.split('/');
        return { mediaType: image.mediaType ?? MANIFEST_MEDIA_TYPE, size: image.manifest.length, digest: image.digest, platform: { architecture, os, ...(variant && { variant }) } };
      }),
    }),
  );
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  return { ref, layers: [], config: Buffer.alloc(0), configDigest: digest, manifest, digest, mediaType: OCI_INDEX_MEDIA_TYPE, children: images.map((i) => i.image) };
}
