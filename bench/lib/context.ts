import type { KubeTarget } from './fixture.js';

/** What every suite gets from bench/run.ts. */
export interface BenchContext {
  quick: boolean;
  /** `--long` (never in CI): the day-long figures — a 1,000-loop soak, a minute of idle per size. */
  long: boolean;
  /** `--snapshots DIR`: suites that support it write V8 heap snapshots of the engine there. */
  snapshots?: string;
  /** Private temp folder for this bench run; removed at the end. */
  tmpRoot: string;
  /** Unique per bench run, used in image repositories and tags so cleanup can find exactly ours. */
  id: string;
  registry: string;
  /** `${registry}/tl-bench-${id}`: every image this run creates lives under it. */
  repoPrefix: string;
  docker: boolean;
  /** Which engine integrations are importable right now (others are still being written). */
  integrations: { docker: boolean; kube: boolean };
  /** A cluster to deploy to (the fake API server, or TIGHTLOOP_E2E_KUBECONFIG). */
  kube?: KubeHandle;
  log(message: string): void;
  /** Pick the repetition count: full run vs --quick. */
  reps(full: number, quick: number): number;
}

export interface KubeHandle extends KubeTarget {
  kind: 'fake' | 'real';
  /** What reports call a real cluster: "real cluster" unless TIGHTLOOP_BENCH_CLUSTER_LABEL says what stands in for one. */
  label?: string;
  /** The fake API server's address and token (the baseline script talks to it with curl). */
  api?: { url: string; token: string };
  /** Deployment manifest applied to it (the example's). */
  apply(manifestFile: string): Promise<void>;
  /** Non-GET requests seen by the API server since start (fake only). */
  writes(): number;
  /**
   * When the API write that changed the workload happened, and when the pod it led to became
   * Ready, for the latest rollout after `since` (epoch ms). Fake only; undefined when unknown.
   */
  rolloutTimes?(since: number): { writeAt: number; readyAt: number } | undefined;
  dispose(): Promise<void>;
}
