import type { RetryPolicy } from '../retry.js';

/** Knobs for the Docker integration; every wait is bounded so no fault can hang a run. */
export interface DockerTimeouts {
  /** One short Engine API call (ping, inspect, tag, list, remove). */
  apiMs: number;
  /** A liveness ping sent while a build or push stream is quiet. */
  pingMs: number;
  /** How long a build/push stream may stay quiet before the daemon is pinged. */
  silenceMs: number;
  /** A whole build. */
  buildMs: number;
  /** A whole push. */
  pushMs: number;
  /** A push with no progress at all for this long is given up (the registry stalled). */
  pushStallMs: number;
  /** Registry reachability probe (doctor). */
  registryProbeMs: number;
  /** One `docker-credential-* get`. */
  credentialHelperMs: number;
  /** `kind load docker-image`. */
  kindLoadMs: number;
  /** Asking the Kubernetes side for cluster facts. */
  clusterFactsMs: number;
  /** One background registry GC after a direct push (each request is also bounded by apiMs). */
  registryGcMs: number;
}

export const DEFAULT_TIMEOUTS: DockerTimeouts = {
  apiMs: 15_000,
  pingMs: 5_000,
  silenceMs: 5_000,
  buildMs: 30 * 60_000,
  pushMs: 10 * 60_000,
  pushStallMs: 60_000,
  registryProbeMs: 5_000,
  credentialHelperMs: 10_000,
  kindLoadMs: 5 * 60_000,
  clusterFactsMs: 15_000,
  registryGcMs: 2 * 60_000,
};

export interface DockerStageOptions {
  /** Environment read for DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG, DOCKER_CERT_PATH, PATH (default: process.env). */
  env?: Record<string, string | undefined>;
  /** Home folder holding .docker/ (default: os.homedir()). */
  home?: string;
  timeouts?: Partial<DockerTimeouts>;
  /** Compatibility-mode contexts above this size get a warning (default 100 MiB). */
  largeContextBytes?: number;
  /** Layer blobs of direct pushes (benchmarks compare them); default: none to a loopback registry, else gzip. */
  layerCompression?: 'gzip' | 'none';
  /** Retries of transient registry failures during a direct push (default: 3, from 250 ms doubling, at most 4 s apart). */
  retry?: Partial<RetryPolicy>;
  /** Reuse a direct-path layer whose key (its staged bytes, image.layers key files) is unchanged (default true). */
  keyedLayers?: boolean;
}

export const DEFAULT_MAX_CONTEXT_BYTES = 2 * 1024 ** 3;
export const DEFAULT_LARGE_CONTEXT_BYTES = 100 * 1024 ** 2;
