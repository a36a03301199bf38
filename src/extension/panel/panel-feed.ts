import path from 'node:path';
import type { RunSummary } from '../../engine/types.js';
import { analyseHistory } from '../../shared/history.js';
import type { RunView, ServiceHistory, ServicesMessage, ServiceView } from '../../shared/messages.js';
import type { RunModel, ServiceEntry } from '../model/run-model.js';
import type { Phase } from '../model/status-model.js';

/** Evidence and log excerpts can be long; the panel shows a readable amount. */
const MAX_EVIDENCE = 40;

/**
 * A run for the panel. Paths under the workspace are shown relative to it: the panel is narrow,
 * and "src/main.c:63:34" reads better than the same behind a temp directory.
 */
export function runView(run: RunSummary, root?: string): RunView {
  const trigger = run.records.find((r) => r.stage === 'trigger')?.detail ?? run.trigger.reason;
  const rel = (text: string) => (root ? text.split(`${root}/`).join('') : text);
  return {
    runId: run.runId,
    status: run.status,
    startedAt: run.startedAt,
    durationMs: run.durationMs,
    trigger,
    records: run.records.map((r) => ({ ...r, ...(r.detail && { detail: rel(r.detail) }) })),
    ...(run.failedStage && { failedStage: run.failedStage }),
    ...(run.error && { error: rel(run.error) }),
    ...(run.hint && { hint: rel(run.hint) }),
    ...(run.evidence?.length && { evidence: run.evidence.slice(-MAX_EVIDENCE).map(rel) }),
    ...(run.image && { image: run.image }),
  };
}

export function serviceView(entry: ServiceEntry, root?: string): ServiceView {
  return {
    name: entry.name,
    kind: entry.kind,
    manual: entry.manual,
    queued: entry.queued,
    ...(entry.live && {
      live: {
        runId: entry.live.runId,
        startedAt: entry.live.startedAt,
        trigger: entry.live.trigger,
        ...(entry.live.stage && { stage: entry.live.stage }),
        ...(entry.live.stageStartedAt !== undefined && { stageStartedAt: entry.live.stageStartedAt }),
        records: entry.live.records.map((r) => ({ ...r })),
      },
    }),
    ...(entry.last && { last: runView(entry.last, root) }),
    pending: entry.pending,
    ...(entry.waiting && { waiting: entry.waiting }),
    problems: entry.diagnostics.length,
  };
}

export function noticeFor(phase: Phase): ServicesMessage['notice'] {
  switch (phase.kind) {
    case 'no-config':
      return { kind: 'info', text: 'No tightloop.yaml in this workspace yet. Create one from what the workspace contains (Cargo.toml, go.mod, Dockerfile, Kubernetes manifests).', action: 'createConfig' };
    case 'untrusted':
      return {
        kind: 'warning',
        text: 'This workspace is in Restricted Mode. Tightloop runs the commands in tightloop.yaml (compile, image builds, deploys), so it runs nothing until you trust the workspace.',
        action: 'manageTrust',
      };
    case 'config-error':
      return { kind: 'error', text: `tightloop.yaml has ${phase.count === 1 ? 'a problem' : `${phase.count} problems`} (see Problems); nothing runs until it is fixed.`, action: 'openConfig' };
    case 'loading':
      return { kind: 'info', text: 'Loading tightloop.yaml…' };
    case 'ready':
      return undefined;
  }
}

export function servicesMessage(model: RunModel, phase: Phase, configFile: string | undefined, historyLength: number, now = Date.now()): ServicesMessage {
  const notice = noticeFor(phase);
  return {
    type: 'services',
    now,
    ...(notice && { notice }),
    ...(configFile && { configFile }),
    historyLength,
    tasks: model.tasks().map((t) => t.name),
    services: model.all().map((e) => serviceView(e, configFile && path.dirname(configFile))),
  };
}

export function historyOf(entry: ServiceEntry, historyLength: number): ServiceHistory {
  return analyseHistory(entry.name, entry.history, historyLength);
}
