import type { DirectImage } from './assembly/image.js';
import type { Delivery } from './delivery.js';
import type { DirectRegistry } from './registry/session.js';

/**
 * What the image stage hands the push stage of the same run. The delivery is decided once per run:
 * when the image stage had to decide it (to choose between the direct and the engine path), push
 * uses that decision and never asks again.
 */
export interface ImageHandoff {
  /** The reference the image stage produced (equal to outputs.imageRef). */
  ref: string;
  /** How the image reaches the cluster, when the image stage decided it. */
  delivery?: Delivery;
  /** The direct path: nothing is in the engine, the push stage uploads this over the registry API. */
  direct?: DirectUpload;
}

export interface DirectUpload {
  /** The session for the repository pushed to (its delivery is the run's). */
  registry: DirectRegistry;
  /** Why the direct path was taken (for the push stage's detail). */
  why: string;
  /** Assembled, to be uploaded; absent when the registry already has the tag. */
  image?: DirectImage;
  /** The registry's digest for the tag when it already had it. */
  existingDigest?: string;
}

declare module '../stages/stage.js' {
  interface RunHandoffs {
    /** image → push. */
    image?: ImageHandoff;
  }
}
