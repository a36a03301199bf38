import type { ResolvedConfig, ResolvedService } from '../config/resolved.js';
import type { Diagnostic, LogStream, RunTrigger, StageName } from '../types.js';

/**
 * The plug-in contract for stages. The engine owns ordering, timing, cancellation, skipping and
 * history; a stage only does its work and says what it produced.
 *
 * Failure: throw a `StageError` (one clear sentence + optional hint/evidence). Any other thrown
 * error is reported as "<stage>: <message>" without a stack. Cancellation: honour `ctx.signal`
 * (the engine marks the stage `cancelled` when the signal is aborted, whatever is thrown).
 */
export interface Stage {
  readonly name: StageName;
  /** Return a reason string to skip this stage (e.g. "no image configured"), or undefined to run. */
  skipReason?(ctx: StageContext): string | undefined;
  run(ctx: StageContext): Promise<StageResult>;
}

export interface StageResult {
  /** Defaults to ok. `skipped` needs a detail saying why (e.g. "image tl-ab12… already exists"). */
  status?: 'ok' | 'skipped';
  /** Short sentence shown next to the timing: what was done, chosen, and why. */
  detail?: string;
  /** Values for later stages (merged into ctx.outputs); remembered as the last success's. */
  outputs?: Partial<RunOutputs>;
  /** Live values for later stages of this run only (merged into ctx.handoffs); never persisted. */
  handoffs?: Partial<RunHandoffs>;
}

/**
 * Values passed forward through one run: plain data, stored as the last successful run's outputs.
 * Stages add to it; nothing removes. A stage skipped because its inputs are unchanged carries the
 * last successful run's values of its keys forward (STAGE_OUTPUT_KEYS), so the stages after it
 * receive the same outputs whether it ran or not (Tilt's LastSuccessfulResult).
 */
export interface RunOutputs {
  /** Absolute staging folder. */
  stagingDir: string;
  /** sha256 of the whole staging set (paths + modes + contents), hex. */
  stagingHash: string;
  stagedFiles: StagedFile[];
  /** Full reference built, e.g. 127.0.0.1:5000/api:tl-0123456789ab. */
  imageRef: string;
  imageId: string;
  /** Registry digest after a push (sha256:…). */
  digest: string;
  /** The reference the cluster should run (repo@digest, or the local tag for a shared daemon). */
  deployRef: string;
  /** How the image was delivered, e.g. "push", "shared-daemon", "kind-load". */
  delivery: string;
  /** Kubernetes: the generation written by deploy, and the pod that became ready. */
  deployedGeneration: number;
  readyPods: string[];
  /** Deploy from manifests: what was applied, handed to ready and remembered for the next run's skip. */
  manifests: ManifestDeployOutput;
  /**
   * Live update: the staged files of the image the pods were started from, and per pod UID what
   * was synced into each since. A full delivery resets it (the pods then run this run's image).
   */
  live: LiveRecord;
}

/** Which outputs each stage produces: what a skipped stage carries forward from the last success. */
export const STAGE_OUTPUT_KEYS = {
  stage: ['stagingDir', 'stagingHash', 'stagedFiles'],
  image: ['imageRef', 'imageId'],
  push: ['digest', 'deployRef', 'delivery'],
} as const satisfies Partial<Record<StageName, readonly (keyof RunOutputs)[]>>;

/**
 * What a stage hands to a later stage of the same run that is not a result worth remembering: an
 * image assembled in memory for the push stage to upload, the delivery decided for the run, the
 * rollout deploy started for ready to wait on. Gone when the run ends (a cancelled run leaves
 * nothing behind; two runs never see each other's), never persisted, never carried forward.
 *
 * The integration producing a field declares it here by module augmentation (docker/handoffs.ts,
 * kube/handoffs.ts), so this contract imports no integration.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by the integrations' declarations
export interface RunHandoffs {}

/**
 * What Tightloop knows the running containers of a live-update service hold: the staged files of
 * the image they were started from, and per pod UID (container path → sha256) what was synced into
 * each since. A pod missing from `pods` runs its image's content.
 */
export interface LiveRecord {
  imageFiles: StagedFile[];
  pods: Record<string, Record<string, string>>;
}

export interface ManifestDeployOutput {
  /** sha256 of the objects as applied; an equal hash next time means nothing to apply. */
  hash: string;
  /** False when the objects were identical to the last successful apply (no API write). */
  applied: boolean;
  context: string;
  /** The objects ready waits for: those that received the image, or every workload without one. */
  workloads: ManifestWorkload[];
}

export interface ManifestWorkload {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  /** metadata.generation the apply produced. */
  generation: number;
  /** Pod label selector (rollout kinds). */
  selector?: string;
  /** A container that received the image, and that image. */
  container?: string;
  image?: string;
}

export interface StagedFile {
  /** Path inside the staging folder (posix). */
  path: string;
  sha256: string;
  size: number;
  mode: number;
}

export interface StageContext {
  readonly config: ResolvedConfig;
  readonly service: ResolvedService;
  readonly runId: string;
  readonly signal: AbortSignal;
  /** What started the run (the changed files decide whether a live update can carry them). */
  readonly trigger: RunTrigger;
  /** What earlier stages of this run produced (or carried forward when skipped). */
  readonly outputs: Partial<RunOutputs>;
  /** Live values earlier stages of this run handed on (see RunHandoffs). */
  readonly handoffs: Partial<RunHandoffs>;
  /** Outputs of the last fully successful run of this service (persisted across restarts). */
  readonly lastSuccess: Partial<RunOutputs> | undefined;
  /** `--force`: a stage must not skip its work because it looks done (tag exists, same hash). */
  readonly force?: boolean;
  /** Stream a log line into this stage's log. */
  log(text: string, stream?: LogStream): void;
  /** Publish compiler diagnostics (replaces the previous set for this service). */
  diagnostics(list: Diagnostic[]): void;
  /** Facts about the target cluster; undefined when no Kubernetes provider is configured. */
  readonly cluster: ClusterFactsProvider | undefined;
}

export class StageError extends Error {
  constructor(
    message: string,
    readonly options: {
      hint?: string;
      evidence?: string[];
      /** The evidence lines are the stage's own output, already streamed as log lines (not logged again). */
      evidenceLogged?: boolean;
      cause?: unknown;
    } = {},
  ) {
    super(message);
    this.name = 'StageError';
  }
}

/**
 * Facts about the target cluster that the image/push stages need. Implemented by the Kubernetes
 * stage (it reads them from the API); tests and explicit config can supply a fixed value.
 */
export interface ClusterFacts {
  context: string;
  /** kind / k3d / minikube / docker-desktop / … or "unknown". */
  flavor: string;
  /** The cluster's nodes run images from the same daemon Tightloop builds with. */
  sharesDockerDaemon: boolean;
  /** From the kube-public/local-registry-hosting ConfigMap (KEP-1755). */
  localRegistry?: { host: string; hostFromClusterNetwork?: string; hostFromContainerRuntime?: string; help?: string };
  /** e.g. ["amd64"]. */
  nodeArchitectures: string[];
  /** kind cluster name when flavor is kind (for `kind load docker-image --name`). */
  kindClusterName?: string;
}

export interface ClusterFactsProvider {
  facts(signal: AbortSignal): Promise<ClusterFacts>;
}

/** What a Docker or Kubernetes integration hands the engine. Missing stages are skipped. */
export interface StageSet {
  live?: Stage;
  image?: Stage;
  push?: Stage;
  deploy?: Stage;
  ready?: Stage;
  cluster?: ClusterFactsProvider;
  /**
   * The refusal when the context deploys would go to is not in kubernetes.allowContexts (read
   * from the kubeconfig, no request): the engine asks before the first stage of a service that
   * deploys, so nothing is compiled or pushed for a cluster it may not change.
   */
  refuseContext?: () => StageError | undefined;
  /** Extra doctor checks (Docker reachable, registry reachable, cluster reachable…). */
  doctor?: DoctorCheck[];
  /** Deletes what was applied from manifests (`tightloop down`). */
  teardown?: Teardown;
  /** Release sockets, port-forwards, log streams. */
  dispose?(): Promise<void>;
}

export interface Teardown {
  /** Delete every object Tightloop applied for the service and wait until they are gone. */
  down(config: ResolvedConfig, service: ResolvedService, signal: AbortSignal, log: (text: string, stream?: LogStream) => void): Promise<TeardownResult>;
}

export interface TeardownResult {
  service: string;
  /** Kind/name of what was deleted (and is gone). */
  deleted: string[];
  /** Objects with Tightloop's name but not applied by it (labels or field manager missing): untouched. */
  leftAlone: string[];
}

export interface DoctorCheck {
  name: string;
  run(config: ResolvedConfig, signal: AbortSignal): Promise<DoctorResult[]>;
}

export interface DoctorResult {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  service?: string;
}
