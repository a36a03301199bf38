import { compileStage } from './compile/compile-stage.js';
import { runCommand } from './compile/run-command.js';
import type { ResolvedConfig, ResolvedService, ResolvedTask, Runnable } from './config/resolved.js';
import { hashInputs, sha256 } from './hash.js';
import { stagingStage } from './staging/staging-stage.js';
import { STAGE_OUTPUT_KEYS, StageError, type RunHandoffs, type RunOutputs, type Stage, type StageContext, type StageSet } from './stages/stage.js';
import type { ServiceState, StateStore } from './state.js';
import type { Diagnostic, EngineEvent, LogStream, RunSummary, RunTrigger, StageName, TimingRecord } from './types.js';

export interface PipelineDeps {
  config: ResolvedConfig;
  stages: StageSet;
  state: StateStore;
  emit: (event: EngineEvent) => void;
}

export interface RunRequest {
  node: Runnable;
  runId: string;
  trigger: RunTrigger;
  signal: AbortSignal;
  /** Ignore every skip (inputs unchanged, artifact unchanged). */
  force?: boolean;
}

const AFTER_TRIGGER: StageName[] = ['compile', 'staging', 'live', 'image', 'push', 'deploy', 'ready'];
const DELIVERY_STAGES: StageName[] = ['image', 'push', 'deploy', 'ready'];

/** Runs one service (or task) through its stages, timing each; never throws. */
export async function runPipeline(deps: PipelineDeps, request: RunRequest): Promise<RunSummary> {
  const { node, runId, trigger } = request;
  const startedAt = Date.now();
  deps.emit({ type: 'run-started', service: node.name, runId, trigger, startedAt });
  const records: TimingRecord[] = [];
  const finishRecord = (record: TimingRecord) => {
    records.push(record);
    deps.emit({ type: 'stage-finished', record });
  };
  const firstChange = trigger.firstChangeAt ?? startedAt;
  finishRecord({
    service: node.name,
    runId,
    stage: 'trigger',
    startedAt: firstChange,
    durationMs: Math.max(0, startedAt - firstChange),
    status: 'ok',
    detail: describeTrigger(trigger, deps.config.root),
  });

  const { failure, image } =
    node.kind === 'task' ? { failure: await runTask(deps, request, node, finishRecord), image: undefined } : await runService(deps, request, node, finishRecord);
  const summary: RunSummary = {
    service: node.name,
    runId,
    status: failure ? (failure.cancelled ? 'cancelled' : 'failed') : 'ok',
    startedAt,
    durationMs: Date.now() - startedAt,
    trigger,
    records,
    ...(failure && {
      failedStage: failure.stage,
      error: failure.cancelled ? `cancelled during ${failure.stage}: ${failure.message}` : `${failure.stage}: ${failure.message}`,
      ...(failure.hint && { hint: failure.hint }),
      ...(failure.evidence?.length && { evidence: failure.evidence }),
    }),
  };
  if (image) summary.image = image;
  deps.emit({ type: 'run-finished', summary });
  return summary;
}

interface Failure {
  stage: StageName;
  message: string;
  cancelled: boolean;
  hint?: string;
  evidence?: string[];
  evidenceLogged?: boolean;
}

type Record_ = (record: TimingRecord) => void;

async function runService(
  deps: PipelineDeps,
  request: RunRequest,
  service: ResolvedService,
  record: Record_,
): Promise<{ failure?: Failure; image?: string }> {
  const { runId, signal } = request;
  const state = await deps.state.get(service.name);
  // The run's typed results (remembered on success) and its live hand-offs (gone with the run).
  const outputs: Partial<RunOutputs> = {};
  const handoffs: Partial<RunHandoffs> = {};
  const newInputs: ServiceState['inputs'] = { ...state.inputs };
  const fingerprint = deliveryFingerprint(deps, service);
  let unchanged: string | undefined;
  let failure: Failure | undefined;
  let liveSynced = false;
  let delivered = false;

  // A service that deploys to a context it may not change stops here, before compile: nothing is
  // built or pushed for that cluster. Reported as its deploy step, with the deploy step's sentence.
  const refusal = service.deploy ? deps.stages.refuseContext?.() : undefined;
  if (refusal) {
    failure = toFailure('deploy', refusal, signal);
    record({ service: service.name, runId, stage: 'deploy', startedAt: Date.now(), durationMs: 0, status: 'failed', detail: failure.message });
    return { failure };
  }

  for (const name of AFTER_TRIGGER) {
    const stage = stageFor(deps.stages, name);
    const ctx = { ...makeContext(deps, service, runId, signal, { outputs, handoffs }, state, name, request.trigger), force: request.force === true };
    const skip = (detail: string) =>
      record({ service: service.name, runId, stage: name, startedAt: Date.now(), durationMs: 0, status: 'skipped', detail });

    if (name === 'live') {
      if (!service.live) continue; // not part of this service's pipeline at all
      const refused = liveRefusal(service, state, fingerprint, request, !!stage);
      if (refused) {
        skip(refused);
        continue;
      }
    }

    // With manifests, deploy still runs on an unchanged artifact: the manifests may have changed
    // (it compares the rendered objects with the last apply and writes nothing when equal).
    if (unchanged && DELIVERY_STAGES.includes(name) && !(service.deploy?.manifests && (name === 'deploy' || name === 'ready'))) {
      skip(unchanged);
      continue;
    }
    const notConfigured = !stage ? unavailableReason(service, name) : stage.skipReason?.(ctx);
    if (notConfigured) {
      skip(notConfigured);
      continue;
    }
    const startedAt = Date.now();
    const started = performance.now();
    deps.emit({ type: 'stage-started', service: service.name, runId, stage: name, startedAt });
    try {
      const inputs = inputsOf(service, name);
      let inputHash: string | undefined;
      if (inputs) {
        inputHash = await hashInputs(deps.config.root, inputs, JSON.stringify(stageSettings(service, name)));
        // Skipping hands on the last success's outputs, so they must be the ones these inputs made.
        if (!request.force && state.inputs[name] === inputHash && (!producesOutputs(name) || state.lastSuccess?.inputs?.[name] === inputHash)) {
          carryForward(name, state.lastSuccess, outputs);
          record({ service: service.name, runId, stage: name, startedAt, durationMs: performance.now() - started, status: 'skipped', detail: `inputs unchanged (${inputHash.slice(0, 12)})` });
          continue;
        }
      }
      const result = await stage!.run(ctx);
      if (signal.aborted) throw new StageError('cancelled');
      Object.assign(outputs, result.outputs);
      Object.assign(handoffs, result.handoffs);
      if (inputHash) newInputs[name] = inputHash;
      record({ service: service.name, runId, stage: name, startedAt, durationMs: performance.now() - started, status: result.status ?? 'ok', ...(result.detail && { detail: result.detail }) });
      if (name === 'ready' && (result.status ?? 'ok') === 'ok') delivered = true;
      // The pods run the new files: the image they were started from is still the one deployed.
      if (name === 'live' && (result.status ?? 'ok') === 'ok') {
        liveSynced = true;
        unchanged ??= 'live update: the running pods have the new files (no new image, no rollout)';
        Object.assign(outputs, { ...state.lastSuccess, ...outputs });
      }
      // A pod that appeared runs its image's content, not these staged files: when it cannot be
      // synced, "staged files unchanged" must not skip the rollout that gives it them.
      if (name === 'live' && result.status === 'skipped' && request.trigger.reason === 'pod') unchanged = undefined;
    } catch (error) {
      failure = toFailure(name, error, signal);
      record({ service: service.name, runId, stage: name, startedAt, durationMs: performance.now() - started, status: failure.cancelled ? 'cancelled' : 'failed', detail: failure.message });
      // The stage's log must hold its evidence, once: output already streamed is not repeated.
      if (!failure.evidenceLogged) for (const line of failure.evidence ?? []) ctx.log(line, 'error');
      break;
    }
    const last = state.lastSuccess;
    // Staging mode: the staged files are the whole context, so equal staged bytes mean an equal
    // image and delivery can be skipped before building. Context mode: the image also holds
    // whatever else the Dockerfile copies from the repo, so only the content tag (keyed by every
    // context file, the Dockerfile, args, base and platform) can say "unchanged".
    const contextMode = service.image?.context !== undefined;
    if (name === 'staging' && !contextMode && !request.force && last && last.stagingHash === outputs.stagingHash && last.fingerprint === fingerprint) {
      unchanged = `unchanged: staged files identical to the last successful run (${outputs.stagingHash!.slice(0, 12)})`;
      Object.assign(outputs, { ...last, ...outputs });
    }
    if (name === 'image' && contextMode && !request.force && last?.imageRef && last.imageRef === outputs.imageRef && last.fingerprint === fingerprint) {
      unchanged = `unchanged: image ${outputs.imageRef} (same context, Dockerfile, args, base and platform) is the one last delivered`;
      Object.assign(outputs, { ...last, ...outputs });
    }
  }

  // A delivery through ready starts the live record afresh: the pods run this run's image.
  if (service.live && delivered && !liveSynced) outputs.live = { imageFiles: outputs.stagedFiles ?? [], pods: {} };
  const nextState: ServiceState = { inputs: newInputs, lastSuccess: state.lastSuccess };
  if (!failure && (outputs.stagingHash || outputs.imageRef || outputs.manifests)) nextState.lastSuccess = { ...outputs, fingerprint, finishedAt: Date.now(), inputs: newInputs };
  try {
    await deps.state.set(service.name, nextState);
  } catch (error) {
    // Losing the skip state only costs a rebuild next time; it must not fail a good run.
    deps.emit({ type: 'warning', service: service.name, message: `state not saved: ${(error as Error).message}` });
  }
  return { failure, image: failure ? undefined : (outputs.deployRef ?? outputs.imageRef) };
}

async function runTask(deps: PipelineDeps, request: RunRequest, task: ResolvedTask, record: Record_): Promise<Failure | undefined> {
  const startedAt = Date.now();
  const started = performance.now();
  deps.emit({ type: 'stage-started', service: task.name, runId: request.runId, stage: 'task', startedAt });
  try {
    const result = await runCommand(task, request.signal, (text, stream) => emitLog(deps, task.name, request.runId, 'task', text, stream), { root: deps.config.root, name: task.name });
    record({ service: task.name, runId: request.runId, stage: 'task', startedAt, durationMs: performance.now() - started, status: 'ok', detail: `pid ${result.pid}` });
    return undefined;
  } catch (error) {
    const failure = toFailure('task', error, request.signal);
    record({ service: task.name, runId: request.runId, stage: 'task', startedAt, durationMs: performance.now() - started, status: failure.cancelled ? 'cancelled' : 'failed', detail: failure.message });
    return failure;
  }
}

function makeContext(
  deps: PipelineDeps,
  service: ResolvedService,
  runId: string,
  signal: AbortSignal,
  run: Pick<StageContext, 'outputs' | 'handoffs'>,
  state: ServiceState,
  stage: StageName,
  trigger: RunTrigger,
): StageContext {
  return {
    config: deps.config,
    service,
    runId,
    signal,
    trigger,
    outputs: run.outputs,
    handoffs: run.handoffs,
    lastSuccess: state.lastSuccess,
    cluster: deps.stages.cluster,
    log: (text, stream = 'info') => emitLog(deps, service.name, runId, stage, text, stream),
    diagnostics: (list: Diagnostic[]) => deps.emit({ type: 'diagnostics', service: service.name, runId, diagnostics: list }),
  };
}

/**
 * A stage skipped because its inputs are unchanged produced nothing this run: the stages after it
 * receive what it produced in the last successful run, exactly as if it had run.
 */
function carryForward(name: StageName, last: Partial<RunOutputs> | undefined, outputs: Partial<RunOutputs>): void {
  if (!last || !producesOutputs(name)) return;
  for (const key of STAGE_OUTPUT_KEYS[name]) {
    if (last[key] !== undefined) Object.assign(outputs, { [key]: last[key] });
  }
}

function producesOutputs(name: StageName): name is keyof typeof STAGE_OUTPUT_KEYS {
  return name in STAGE_OUTPUT_KEYS;
}

function emitLog(deps: PipelineDeps, service: string, runId: string, stage: StageName, text: string, stream: LogStream) {
  deps.emit({ type: 'log', line: { service, runId, stage, stream, text, time: Date.now() } });
}

/**
 * Why this run cannot try a live update (one sentence, shown as the live stage's detail), or
 * undefined when it can: the pods must run an image this config built in live mode.
 */
function liveRefusal(service: ResolvedService, state: ServiceState, fingerprint: string, request: RunRequest, available: boolean): string | undefined {
  if (!available) return 'full image + rollout: live update needs the Kubernetes integration (no cluster configured)';
  if (request.force) return 'full image + rollout: --force';
  const last = state.lastSuccess;
  if (!last?.live) return 'full image + rollout: no pod runs an image built in live mode yet (this delivery builds one)';
  if (last.fingerprint !== fingerprint) return 'full image + rollout: the image, deploy, live or cluster settings changed since the last delivery';
  if (!service.deploy?.workload) return 'full image + rollout: live update needs deploy.workload (the workload whose pods receive the files)';
  return undefined;
}

function stageFor(stages: StageSet, name: StageName): Stage | undefined {
  if (name === 'compile') return compileStage;
  if (name === 'staging') return stagingStage;
  if (name === 'trigger' || name === 'task') return undefined;
  return stages[name];
}

function unavailableReason(service: ResolvedService, name: StageName): string {
  if ((name === 'image' || name === 'push') && !service.image) return 'no image configured';
  if ((name === 'deploy' || name === 'ready') && !service.deploy) return 'no deploy configured';
  if (name === 'image' || name === 'push') return 'Docker integration not loaded';
  return 'no Kubernetes cluster configured (no kubeconfig found: set KUBECONFIG or kubernetes.kubeconfig)';
}

/**
 * What an input-skipped stage hands on: its outputs from the last successful run. Undefined when
 * there are none to hand on (or delivery settings changed since): then the stage runs.
 */
function inputsOf(service: ResolvedService, name: StageName): string[] | undefined {
  if (name === 'compile') return service.compile?.inputs;
  if (name === 'staging') return service.stage?.inputs;
  if (name === 'image') return service.image?.inputs;
  return undefined;
}

function stageSettings(service: ResolvedService, name: StageName): unknown {
  return name === 'compile' ? service.compile : name === 'staging' ? service.stage : service.image;
}

/**
 * Everything besides the staged bytes that decides what ends up running: if any of it changed,
 * "unchanged artifact" must not skip delivery.
 */
function deliveryFingerprint(deps: PipelineDeps, service: ResolvedService): string {
  const available = DELIVERY_STAGES.filter((s) => stageFor(deps.stages, s));
  // `live` changes the image (agent layer, entrypoint), so it is part of it; absent, the hash is as before.
  return sha256(JSON.stringify([service.image, service.deploy, deps.config.docker, deps.config.kubernetes, available, ...(service.live ? [service.live] : [])]));
}

function toFailure(stage: StageName, error: unknown, signal: AbortSignal): Failure {
  if (signal.aborted) {
    const reason = signal.reason instanceof Error ? signal.reason.message : typeof signal.reason === 'string' ? signal.reason : 'cancelled';
    return { stage, message: reason, cancelled: true };
  }
  if (error instanceof StageError) {
    return { stage, message: error.message, cancelled: false, hint: error.options.hint, evidence: error.options.evidence, evidenceLogged: error.options.evidenceLogged };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { stage, message: message.split('\n')[0] ?? 'unknown error', cancelled: false };
}

function describeTrigger(trigger: RunTrigger, root: string): string {
  if (trigger.reason === 'pod') return `pod ${trigger.pod ?? '?'} appeared: it runs its image's content, not the live-synced files`;
  const files = trigger.changedFiles.map((f) => (f.startsWith(root + '/') ? f.slice(root.length + 1) : f));
  const shown = files.slice(0, 3).join(', ') + (files.length > 3 ? ` and ${files.length - 3} more` : '');
  return files.length ? `${trigger.reason}: ${shown}` : trigger.reason;
}
