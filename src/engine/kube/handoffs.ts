import type { Baseline } from './rollout.js';

declare module '../stages/stage.js' {
  interface RunHandoffs {
    /**
     * deploy → ready: the rollout deploy started (what a pod of the new version looks like). Ready
     * without it (deploy skipped) waits for the workload's current state instead.
     */
    rollout?: Baseline;
  }
}
