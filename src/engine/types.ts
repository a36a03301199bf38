/**
 * The engine's public vocabulary. Everything that crosses the engine boundary (CLI, VS Code glue,
 * webview, history file) speaks these types, so they stay plain data (JSON-serialisable).
 */

/**
 * Stages in the order they run for every service. `live` (services with `live:` only) syncs the
 * staged files into the running pods; when it succeeds, image, push, deploy and ready are skipped.
 */
export const SERVICE_STAGES = ['trigger', 'compile', 'staging', 'live', 'image', 'push', 'deploy', 'ready'] as const;
/** A task runs its command in a stage of its own (history before 0.2 recorded it as `compile`). */
export const TASK_STAGES = ['trigger', 'task'] as const;
/** Every stage name, services' first. */
export const STAGES = [...SERVICE_STAGES, 'task'] as const;
export type StageName = (typeof STAGES)[number];

export type StageStatus = 'ok' | 'failed' | 'skipped' | 'cancelled';
export type RunStatus = 'ok' | 'failed' | 'cancelled';

/** One line per stage per run; appended to .tightloop/history.jsonl. */
export interface TimingRecord {
  service: string;
  runId: string;
  stage: StageName;
  /** Epoch milliseconds. */
  startedAt: number;
  durationMs: number;
  status: StageStatus;
  /** Human sentence: skip reason, failure cause, what was chosen and why. */
  detail?: string;
}

export type LogStream = 'stdout' | 'stderr' | 'info' | 'warn' | 'error';

export interface LogLine {
  service: string;
  runId?: string;
  stage?: StageName | 'pod';
  stream: LogStream;
  text: string;
  time: number;
}

/** A compiler diagnostic parsed from compile output (problemMatcher). Paths are absolute. */
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  severity: 'error' | 'warning';
  message: string;
  code?: string;
}

/** What started a run; `changedFiles` are absolute paths. */
export interface RunTrigger {
  reason: 'manual' | 'watch' | 'save' | 'dependency' | 'initial' | 'pod';
  changedFiles: string[];
  /** reason `pod`: the pod that appeared running its image's content, not the live-synced files. */
  pod?: string;
  /** Epoch ms of the first change that led to this run (for the trigger stage timing). */
  firstChangeAt?: number;
}

export interface RunSummary {
  service: string;
  runId: string;
  status: RunStatus;
  startedAt: number;
  durationMs: number;
  trigger: RunTrigger;
  records: TimingRecord[];
  /** The failing stage, if any. */
  failedStage?: StageName;
  /** One-sentence cause when failed, prefixed with the stage ("compile: …"). */
  error?: string;
  /** How to fix it, when the stage knows. */
  hint?: string;
  /** Supporting lines: last output lines, events, the Dockerfile line… */
  evidence?: string[];
  /** The image reference deployed (digest form when known). */
  image?: string;
}

/** Why a queued run has not started yet (shown in the status-bar tooltip, the panel card and --json). */
export interface HoldReason {
  kind: 'dependency' | 'parallelism' | 'settle' | 'running' | 'manual';
  /** The dependencies waited for (kind dependency). */
  on?: string[];
  /** One sentence, e.g. `waiting for dependency "codegen"`. */
  message: string;
}

/** Typed events; the engine never prints, consumers render these. */
export type EngineEvent =
  | { type: 'run-queued'; service: string; trigger: RunTrigger }
  | { type: 'run-waiting'; service: string; reason: HoldReason }
  | { type: 'run-started'; service: string; runId: string; trigger: RunTrigger; startedAt: number }
  | { type: 'stage-started'; service: string; runId: string; stage: StageName; startedAt: number }
  | { type: 'stage-finished'; record: TimingRecord }
  | { type: 'log'; line: LogLine }
  | { type: 'diagnostics'; service: string; runId: string; diagnostics: Diagnostic[] }
  | { type: 'run-finished'; summary: RunSummary }
  | { type: 'changes-pending'; service: string; changedFiles: string[] }
  /** The workload's pods when the service became ready (readiness and restarts as the API reported them). */
  | { type: 'pods'; service: string; pods: PodSummary[] }
  /** A service's trigger mode changed at run time (engine.setTrigger). */
  | { type: 'trigger-changed'; service: string; trigger: 'auto' | 'manual' }
  | { type: 'config-error'; errors: ConfigIssue[] }
  | { type: 'warning'; message: string; service?: string }
  /**
   * The image holding a live-synced run's content, built and pushed in the background so a later
   * full rollout finds its tag (issue 13). Never a run: `runId` is the live run it follows.
   */
  | { type: 'background-image'; service: string; runId: string; state: BackgroundImageState; ref?: string; detail: string };

/**
 * started: building/pushing; done: the image is where a rollout finds it (`ref`); failed: not
 * built (the next full delivery builds it as usual); cancelled: superseded by a newer run.
 */
export type BackgroundImageState = 'started' | 'done' | 'failed' | 'cancelled';

/** One pod of a service's workload, as the ready stage saw it. */
export interface PodSummary {
  name: string;
  ready: boolean;
  /** Restarts summed over its containers. */
  restarts: number;
  /** Pod phase (Running, Pending…). */
  phase: string;
}

/** A config problem with its exact position. */
export interface ConfigIssue {
  file: string;
  /** 1-based; 0 when the file itself is the problem (missing). */
  line: number;
  column: number;
  /** Dotted path to the field, e.g. `services.api.compile.timeout`. */
  path: string;
  message: string;
  /** Offsets into the file, for editors that want an exact range. */
  range?: [number, number];
}
