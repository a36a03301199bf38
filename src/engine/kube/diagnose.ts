import type { CoreV1Event, V1Container, V1ContainerStatus, V1Pod, V1Probe } from '@kubernetes/client-node';
import { StageError } from '../stages/stage.js';
import { isPodReady } from './rollout.js';
import { podName } from './workload.js';
import { formatDuration } from '../../shared/format.js';

/**
 * Why a rollout did not become ready, as one sentence naming pod, container and cause, plus the
 * evidence a developer would otherwise dig out with kubectl describe / kubectl logs.
 */

export interface EvidenceSource {
  /** Events about the pod, oldest first. */
  events(pod: V1Pod): Promise<CoreV1Event[]>;
  /** Up to `tail` log lines of a container (the previous, crashed run when `previous`). */
  logs(pod: V1Pod, container: string, previous: boolean, tail: number): Promise<string[]>;
  /** CPU architecture of a node, for exec-format errors. */
  nodeArch(nodeName: string | undefined): Promise<string | undefined>;
}

export interface DiagnoseInput {
  workload: string;
  container: string;
  newPods: V1Pod[];
  oldLeft: V1Pod[];
  /** Set when we gave up waiting (as opposed to failing fast). */
  waitedMs?: number;
  /** Workload-level problem, e.g. ProgressDeadlineExceeded. */
  workloadProblem?: string;
  workloadEvents?: () => Promise<CoreV1Event[]>;
}

const LOG_LINES = 20;
const IMAGE_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
const CONFIG_REASONS = new Set(['CreateContainerConfigError', 'CreateContainerError']);

interface Candidate {
  pod: V1Pod;
  container?: V1ContainerStatus;
  severity: number;
}

export async function diagnose(input: DiagnoseInput, src: EvidenceSource): Promise<StageError> {
  const waited = input.waitedMs !== undefined ? [`not ready after ${formatDuration(input.waitedMs)} (deploy.readyTimeout)`] : [];
  const worst = pickWorst(input.newPods, input.container);
  if (!worst) {
    if (input.newPods.length && input.oldLeft.length) {
      const old = input.oldLeft[0]!;
      return new StageError(`The new pods of ${input.workload} are ready but old pod ${podName(old)} is still ${old.metadata?.deletionTimestamp ? 'terminating' : 'running'}.`, {
        hint: 'A long terminationGracePeriodSeconds or a finalizer keeps it; the new version is already serving.',
        evidence: waited,
      });
    }
    const events = (await safe(() => input.workloadEvents?.() ?? Promise.resolve([]))) ?? [];
    return new StageError(`${input.workload} did not start any new pod${input.workloadProblem ? `: ${input.workloadProblem}` : ''}.`, {
      hint: 'Check the workload events (quota, admission webhooks, missing service account) with kubectl describe.',
      evidence: [...waited, ...events.filter((e) => e.type === 'Warning').map(eventLine)],
    });
  }
  const { pod } = worst;
  const events = (await safe(() => src.events(pod))) ?? [];
  const cs = worst.container;
  const name = podName(pod);
  const c = cs?.name ?? input.container;
  const spec = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((x) => x.name === c);
  const forContainer = (e: CoreV1Event) => !e.involvedObject.fieldPath || e.involvedObject.fieldPath.includes(`{${c}}`);
  const warnings = events.filter((e) => e.type === 'Warning' && forContainer(e)).map(eventLine);
  const extra = input.workloadProblem ? [`${input.workload}: ${input.workloadProblem}`] : [];

  // Unschedulable: nothing else can have happened yet.
  const scheduled = pod.status?.conditions?.find((x) => x.type === 'PodScheduled');
  if (scheduled?.status === 'False') {
    const schedulerEvent = [...events].reverse().find((e) => e.reason === 'FailedScheduling');
    const why = schedulerEvent?.message ?? scheduled.message ?? scheduled.reason ?? 'no node fits';
    return new StageError(`Pod ${name} (container "${c}") cannot be scheduled: ${trimDot(why)}.`, {
      hint: 'Lower the pod\'s resource requests, free capacity on the nodes, or fix nodeSelector / affinity / tolerations.',
      evidence: [...waited, ...extra, ...events.filter((e) => e.reason === 'FailedScheduling').map(eventLine)],
    });
  }

  const waiting = cs?.state?.waiting;
  const terminated = cs?.state?.terminated ?? cs?.lastState?.terminated;

  if (waiting?.reason && IMAGE_REASONS.has(waiting.reason)) {
    const image = spec?.image ?? cs?.image ?? '?';
    return new StageError(`Pod ${name}, container "${c}": the image ${image} cannot be pulled (${waiting.reason}).`, {
      hint:
        'The cluster pulls from where the image was delivered: make sure the push stage sent it to a registry the nodes can reach ' +
        '(docker.registry, or the host the cluster advertises in kube-public/local-registry-hosting — from inside the cluster it may be hostFromContainerRuntime), ' +
        'and that imagePullPolicy and pull secrets allow it.',
      evidence: [...waited, ...(waiting.message ? [`${waiting.reason}: ${waiting.message}`] : []), ...warnings, ...extra],
    });
  }

  if (waiting?.reason && CONFIG_REASONS.has(waiting.reason)) {
    return new StageError(`Pod ${name}, container "${c}" cannot be created: ${trimDot(waiting.message ?? waiting.reason)} (${waiting.reason}).`, {
      hint: `Create the missing Secret / ConfigMap in namespace ${pod.metadata?.namespace}, or fix the reference in the container's env, envFrom or volumes.`,
      evidence: [...waited, ...warnings, ...extra],
    });
  }

  if (terminated || waiting?.reason === 'CrashLoopBackOff' || waiting?.reason === 'RunContainerError') {
    const previous = !cs?.state?.terminated;
    const lines = (await safe(() => src.logs(pod, c, previous, LOG_LINES))) ?? (await safe(() => src.logs(pod, c, false, LOG_LINES))) ?? [];
    const logEvidence = lines.length ? [`last ${lines.length} log line${lines.length === 1 ? '' : 's'} of ${c}:`, ...lines.map((l) => `  ${l}`)] : ['(the container wrote no logs)'];
    const exit = terminated?.exitCode;
    const messages = [terminated?.message, waiting?.message, ...lines].filter(Boolean).join('\n');
    if (/exec format error/i.test(messages)) {
      const arch = await safe(() => src.nodeArch(pod.spec?.nodeName));
      return new StageError(
        `Pod ${name}, container "${c}" cannot start its program: "exec format error" means the image was built for a different CPU architecture than node ${pod.spec?.nodeName ?? '?'}${arch ? ` (${arch})` : ''}.`,
        {
          hint: `Build for the node's architecture: set image.platform to linux/${arch ?? '<node arch>'} and cross-compile the binary for it.`,
          evidence: [...waited, ...logEvidence, ...extra],
        },
      );
    }
    if (terminated?.reason === 'OOMKilled') {
      const limit = spec?.resources?.limits?.['memory'];
      return new StageError(`Pod ${name}, container "${c}" was killed for running out of memory (OOMKilled${limit ? `, limit ${limit}` : ''}, exit code ${exit ?? 137}).`, {
        hint: 'Raise resources.limits.memory for the container, or find what allocates so much at startup.',
        evidence: [...waited, `restarts: ${cs?.restartCount ?? 0}`, ...logEvidence, ...extra],
      });
    }
    const reason = terminated?.reason && terminated.reason !== 'Error' ? `, ${terminated.reason}` : '';
    return new StageError(`Pod ${name}, container "${c}" keeps crashing (${waiting?.reason ?? 'terminated'}, exit code ${exit ?? '?'}${reason}).`, {
      hint: 'The process exits soon after it starts; the log lines below are from its last run.',
      evidence: [...waited, ...(terminated?.message ? [terminated.message] : []), ...logEvidence, ...extra],
    });
  }

  if (cs?.state?.running && !cs.ready) {
    const probeEvents = events.filter((e) => e.reason === 'Unhealthy' && /readiness probe/i.test(e.message ?? ''));
    const last = probeEvents[probeEvents.length - 1];
    const lines = (await safe(() => src.logs(pod, c, false, LOG_LINES))) ?? [];
    const probe = describeProbe(spec);
    if (last) {
      return new StageError(`Pod ${name}, container "${c}" is running but its readiness probe keeps failing: ${trimDot(last.message ?? '')}.`, {
        hint: 'Check that the app listens on the probed port and path, or give it more time (initialDelaySeconds, failureThreshold).',
        evidence: [...waited, ...probeEvents.map(eventLine), ...(probe ? [probe] : []), ...(lines.length ? [`last ${lines.length} log lines of ${c}:`, ...lines.map((l) => `  ${l}`)] : []), ...extra],
      });
    }
    return new StageError(`Pod ${name}, container "${c}" is running but not ready yet${probe ? ` (${probe})` : ''}.`, {
      hint: 'Its readiness probe has not passed; the app may be slow to start. Raise deploy.readyTimeout if that is expected.',
      evidence: [...waited, ...warnings, ...extra],
    });
  }

  const state = waiting?.reason ?? pod.status?.phase ?? 'Pending';
  return new StageError(`Pod ${name}, container "${c}" is stuck in ${state}${waiting?.message ? `: ${trimDot(waiting.message)}` : ''}.`, {
    hint: 'Its events below say what the node is waiting for (volumes, image, sandbox).',
    evidence: [...waited, ...events.filter((e) => e.type === 'Warning').map(eventLine), ...extra],
  });
}

/** The most informative new pod and container: definite failures first, then unschedulable, stuck, unready. */
function pickWorst(pods: V1Pod[], preferred: string): Candidate | undefined {
  const candidates: Candidate[] = [];
  for (const pod of pods) {
    if (isPodReady(pod)) continue;
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    if (pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False')) {
      candidates.push({ pod, severity: 3, container: statuses.find((s) => s.name === preferred) });
      continue;
    }
    for (const cs of statuses) {
      if (cs.ready || cs.state?.terminated?.reason === 'Completed') continue;
      const w = cs.state?.waiting?.reason;
      const t = cs.state?.terminated ?? (cs.restartCount > 0 ? cs.lastState?.terminated : undefined);
      let severity = 1;
      if (w && (IMAGE_REASONS.has(w) || CONFIG_REASONS.has(w) || w === 'CrashLoopBackOff' || w === 'RunContainerError')) severity = 4;
      else if (t) severity = 4;
      else if (cs.state?.running) severity = 2;
      candidates.push({ pod, container: cs, severity: severity + (cs.name === preferred ? 0.5 : 0) });
    }
    if (statuses.length === 0) candidates.push({ pod, severity: 0 });
  }
  candidates.sort((a, b) => b.severity - a.severity);
  return candidates[0];
}

function describeProbe(spec: V1Container | undefined): string | undefined {
  const p: V1Probe | undefined = spec?.readinessProbe;
  if (!p) return undefined;
  const how = p.httpGet
    ? `httpGet ${p.httpGet.path ?? '/'} on port ${p.httpGet.port}`
    : p.tcpSocket
      ? `tcpSocket on port ${p.tcpSocket.port}`
      : p.exec
        ? `exec ${(p.exec.command ?? []).join(' ')}`
        : p.grpc
          ? `grpc on port ${p.grpc.port}`
          : 'probe';
  return `readinessProbe: ${how}, every ${p.periodSeconds ?? 10}s`;
}

function eventLine(e: CoreV1Event): string {
  const count = (e.count ?? 1) > 1 ? ` (×${e.count})` : '';
  return `${e.reason ?? 'Event'}: ${e.message ?? ''}${count}`;
}

function trimDot(s: string): string {
  return s.trim().replace(/\.+$/, '');
}

async function safe<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch {
    return undefined;
  }
}
