// A module (not a script), so the declaration below augments stage.ts instead of declaring a new module.
export {};

declare module '../stages/stage.js' {
  interface RunHandoffs {
    /**
     * live → deploy: the live stage fell back while some pods run files synced into them since
     * they started. Deploy must then replace the pods even when the image is the one they were
     * started from (set-image would otherwise change nothing and leave the synced files running).
     */
    podsDrifted?: string;
  }
}
