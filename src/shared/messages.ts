import * as z from 'zod/mini';
import { STAGES } from '../engine/types.js';

/**
 * The contract between the extension and the stage-timings webview (zod/mini: the same schemas,
 * tree-shaken, so the webview bundle stays small). Both ends import these
 * schemas and validate every message they receive: a webview is a separate, restartable program
 * and the extension must never trust what it posts (nor the webview what an older extension sends).
 */

const StageName = z.enum(STAGES);
const RunStatus = z.enum(['ok', 'failed', 'cancelled']);

export const TimingRecordSchema = z.object({
  service: z.string(),
  runId: z.string(),
  stage: StageName,
  startedAt: z.number(),
  durationMs: z.number(),
  status: z.enum(['ok', 'failed', 'skipped', 'cancelled']),
  detail: z.optional(z.string()),
});

/** A run in progress: records of finished stages plus the stage running now. */
export const LiveRunSchema = z.object({
  runId: z.string(),
  startedAt: z.number(),
  trigger: z.string(),
  stage: z.optional(StageName),
  stageStartedAt: z.optional(z.number()),
  records: z.array(TimingRecordSchema),
});

export const RunViewSchema = z.object({
  runId: z.string(),
  status: RunStatus,
  startedAt: z.number(),
  durationMs: z.number(),
  trigger: z.string(),
  records: z.array(TimingRecordSchema),
  failedStage: z.optional(StageName),
  error: z.optional(z.string()),
  hint: z.optional(z.string()),
  evidence: z.optional(z.array(z.string())),
  image: z.optional(z.string()),
});

/** One service as the panel shows it: the extension's ServiceEntry, reduced to what the webview draws. */
export const ServiceViewSchema = z.object({
  name: z.string(),
  kind: z.enum(['service', 'task']),
  manual: z.boolean(),
  queued: z.boolean(),
  live: z.optional(LiveRunSchema),
  last: z.optional(RunViewSchema),
  /** Files changed since the last run of a `trigger: manual` service. */
  pending: z.array(z.string()),
  /** Why its queued run waits (dependency, build slot, changes settling, manual trigger). */
  waiting: z.optional(z.string()),
  /** Compiler errors/warnings currently in Problems for this service. */
  problems: z.int().check(z.nonnegative()),
});

export const StageStatSchema = z.object({ stage: StageName, count: z.number(), p50: z.number(), p95: z.number() });

export const HistoryPointSchema = z.object({
  runId: z.string(),
  startedAt: z.number(),
  durationMs: z.number(),
  status: RunStatus,
  /** What started it, as the trigger stage words it ("save: src/main.c"). */
  trigger: z.optional(z.string()),
  /** Set when the run was markedly slower than the median: which stage made it slow. */
  slow: z.optional(z.object({ stage: StageName, factor: z.number(), excessMs: z.number() })),
});

export const ServiceHistorySchema = z.object({
  service: z.string(),
  stats: z.array(StageStatSchema),
  points: z.array(HistoryPointSchema),
  medianMs: z.number(),
});

export const LogLineSchema = z.object({ stream: z.enum(['stdout', 'stderr', 'info', 'warn', 'error']), text: z.string(), time: z.number() });

export const ToWebviewSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('services'),
    /** Extension clock, so the webview's live elapsed time does not depend on its own clock. */
    now: z.number(),
    /** Why there is nothing to show (no config, untrusted workspace, config errors), if so. */
    notice: z.optional(z.object({ kind: z.enum(['info', 'warning', 'error']), text: z.string(), action: z.optional(z.enum(['createConfig', 'openConfig', 'manageTrust'])) })),
    configFile: z.optional(z.string()),
    historyLength: z.int().check(z.positive()),
    tasks: z.array(z.string()),
    services: z.array(ServiceViewSchema),
  }),
  z.object({ type: z.literal('history'), histories: z.array(ServiceHistorySchema) }),
  z.object({ type: z.literal('run'), service: z.string(), run: z.optional(RunViewSchema), runId: z.string() }),
  z.object({
    type: z.literal('log'),
    service: z.string(),
    runId: z.string(),
    stage: z.union([StageName, z.literal('pod')]),
    lines: z.array(LogLineSchema),
    /** Lines dropped from the front (the buffer keeps the newest). */
    dropped: z.int().check(z.nonnegative()),
    /** False when the run's logs are no longer in memory (older than this session's buffer). */
    available: z.boolean(),
  }),
  z.object({ type: z.literal('focus'), service: z.string() }),
]);

export const FromWebviewSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('rebuild'), service: z.optional(z.string()) }),
  z.object({ type: z.literal('cancel'), service: z.optional(z.string()) }),
  z.object({ type: z.literal('runTask'), task: z.optional(z.string()) }),
  z.object({ type: z.literal('openConfig') }),
  z.object({ type: z.literal('createConfig') }),
  z.object({ type: z.literal('manageTrust') }),
  z.object({ type: z.literal('showLogs') }),
  z.object({ type: z.literal('showRun'), service: z.string(), runId: z.string() }),
  z.object({ type: z.literal('showLog'), service: z.string(), runId: z.string(), stage: StageName }),
  z.object({ type: z.literal('cspViolation'), directive: z.string(), blocked: z.string() }),
]);

/** What the webview persists with setState (and the serializer hands back after a reload). */
export const PanelStateSchema = z.object({
  filter: z._default(z.string(), ''),
  /** Services whose card is collapsed (or, past the expand limit, expanded). */
  toggled: z._default(z.array(z.string()), () => []),
  historyOpen: z._default(z.array(z.string()), () => []),
  selection: z.optional(z.object({ service: z.string(), runId: z.string(), stage: StageName })),
  /** A historical run shown instead of the latest, per service. */
  pinnedRuns: z._default(z.record(z.string(), z.string()), () => ({})),
  shown: z.optional(z.int().check(z.positive())),
});

export type ToWebview = z.infer<typeof ToWebviewSchema>;
export type FromWebview = z.infer<typeof FromWebviewSchema>;
export type ServicesMessage = Extract<ToWebview, { type: 'services' }>;
export type ServiceView = z.infer<typeof ServiceViewSchema>;
export type RunView = z.infer<typeof RunViewSchema>;
export type LiveRun = z.infer<typeof LiveRunSchema>;
export type ServiceHistory = z.infer<typeof ServiceHistorySchema>;
export type HistoryPoint = z.infer<typeof HistoryPointSchema>;
export type PanelState = z.infer<typeof PanelStateSchema>;
export type TimingRecordView = z.infer<typeof TimingRecordSchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function parseWith<T>(schema: z.ZodMiniType<T>, data: unknown): Parsed<T> {
  const result = schema.safeParse(data);
  if (result.success) return { ok: true, value: result.data };
  const first = result.error.issues[0];
  return { ok: false, error: first ? `${first.path.join('.') || '(message)'}: ${first.message}` : 'invalid message' };
}

export const parseToWebview = (data: unknown) => parseWith(ToWebviewSchema, data);
export const parseFromWebview = (data: unknown) => parseWith(FromWebviewSchema, data);

/** Restores persisted state leniently: anything unreadable yields the defaults, never an error. */
export function parsePanelState(data: unknown): PanelState {
  const result = PanelStateSchema.safeParse(withStagingName(data ?? {}));
  return result.success ? result.data : PanelStateSchema.parse({});
}

/** A selection saved before the staging step was renamed from `stage` keeps pointing at it. */
function withStagingName(data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return data;
  const selection = (data as { selection?: unknown }).selection;
  if (typeof selection !== 'object' || selection === null || (selection as { stage?: unknown }).stage !== 'stage') return data;
  return { ...data, selection: { ...selection, stage: 'staging' } };
}
