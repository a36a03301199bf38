import type { ClusterTarget } from '../../engine/kube/target.js';
import type { PodSummary } from '../../engine/types.js';
import { formatElapsed, formatDuration } from '../../shared/format.js';
import { l10n } from '../l10n.js';
import type { ServiceEntry } from './run-model.js';
import { md, tooltipFor, type Phase } from './status-model.js';

/**
 * The Tightloop view's tree, as plain data: which nodes exist (by stable key) and what each one
 * shows. Built only from the run model (the same one the status bar and the panel read) and the
 * session phase; the view in ../views/ turns nodes into TreeItems and nothing else.
 *
 * Keys: `header`, `message`, `group/services`, `group/tasks`, `service/NAME`, `task/NAME`, and
 * children `service/NAME/failure`, `service/NAME/pending`, `service/NAME/pod/POD`, `service/NAME/forward/LOCAL`.
 * Cluster resources (manifests) get their own kind when the model carries them.
 */

export type NodeKind = 'header' | 'message' | 'group' | 'service' | 'task' | 'failure' | 'pending' | 'port-forward' | 'pod' | 'resource';

/** What a service's or task's icon says. `live-synced`: its last run synced files into the running pods. */
export type NodeState = 'idle' | 'queued' | 'running' | 'ok' | 'failed' | 'cancelled' | 'live-synced';

export interface TreeNode {
  key: string;
  kind: NodeKind;
  label: string;
  description?: string;
  /** Markdown; command links only to COMMANDS_IN_TOOLTIP. */
  tooltip?: string;
  /** A codicon id and an optional theme colour id. */
  icon: { id: string; color?: string };
  /** Space-separated tokens for menu `when` clauses: the kind first, then flags (busy, idle, auto, manual). */
  contextValue: string;
  collapsible: 'none' | 'collapsed' | 'expanded';
  /** What a click does. */
  command?: { command: string; arguments: unknown[]; title: string };
  /** The service or task the node belongs to (command argument for inline actions). */
  service?: string;
  /** For port-forwards: the URL opened in the browser. */
  url?: string;
  state?: NodeState;
  /** Screen readers, and what end-to-end tests read: label and state in words. */
  ariaLabel: string;
}

export interface TreeInput {
  phase: Phase;
  get(name: string): ServiceEntry | undefined;
  services(): ServiceEntry[];
  tasks(): ServiceEntry[];
  cluster?: ClusterTarget;
  autoRebuild: boolean;
  now: number;
}

export function rootKeys(input: TreeInput): string[] {
  const { phase } = input;
  // No config and untrusted: the view is empty, so VS Code shows its welcome content.
  if (phase.kind === 'no-config' || phase.kind === 'untrusted') return [];
  if (phase.kind === 'loading' || phase.kind === 'config-error') return ['message'];
  const keys: string[] = [];
  if (input.cluster) keys.push('header');
  if (input.services().length) keys.push('group/services');
  if (input.tasks().length) keys.push('group/tasks');
  return keys;
}

export function childKeys(key: string, input: TreeInput): string[] {
  if (key === 'group/services') return input.services().map((s) => `service/${s.name}`);
  if (key === 'group/tasks') return input.tasks().map((t) => `task/${t.name}`);
  const entry = entryOf(key, input);
  if (!entry || key.split('/').length !== 2) return [];
  const keys: string[] = [];
  if (failureOf(entry)) keys.push(`${key}/failure`);
  if (entry.pending.length) keys.push(`${key}/pending`);
  for (const pod of entry.pods ?? []) keys.push(`${key}/pod/${pod.name}`);
  for (const forward of entry.portForwards ?? []) keys.push(`${key}/forward/${forward.local}`);
  return keys;
}

/** The key of a service's or task's own node. */
export function entryKey(entry: Pick<ServiceEntry, 'kind' | 'name'>): string {
  return `${entry.kind}/${entry.name}`;
}

export function stateOf(entry: ServiceEntry): NodeState {
  if (entry.live) return 'running';
  if (entry.queued) return 'queued';
  const last = entry.last;
  if (!last) return 'idle';
  if (last.status === 'ok') return last.records.some((r) => String(r.stage) === 'live' && r.status === 'ok') ? 'live-synced' : 'ok';
  return last.status;
}

const ICONS: Record<NodeState, { id: string; color?: string }> = {
  idle: { id: 'circle-large-outline' },
  queued: { id: 'clock', color: 'charts.yellow' },
  running: { id: 'sync~spin' },
  ok: { id: 'pass', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'testing.iconFailed' },
  cancelled: { id: 'circle-slash', color: 'disabledForeground' },
  'live-synced': { id: 'zap', color: 'testing.iconPassed' },
};

export function node(key: string, input: TreeInput): TreeNode | undefined {
  const parts = key.split('/');
  if (key === 'header') return header(input);
  if (key === 'message') return message(input);
  if (parts[0] === 'group') return group(parts[1] === 'tasks' ? 'tasks' : 'services', input);
  const entry = entryOf(key, input);
  if (!entry) return undefined;
  if (parts.length === 2) return entryNode(entry, input);
  if (parts[2] === 'failure') return failureNode(entry);
  if (parts[2] === 'pending') return pendingNode(entry);
  if (parts[2] === 'pod') {
    const pod = entry.pods?.find((p) => p.name === parts[3]);
    return pod && podNode(entry, pod);
  }
  if (parts[2] === 'forward') {
    const forward = entry.portForwards?.find((f) => String(f.local) === parts[3]);
    return forward && forwardNode(entry, forward);
  }
  return undefined;
}

function entryOf(key: string, input: TreeInput): ServiceEntry | undefined {
  const [kind, name] = key.split('/');
  if ((kind !== 'service' && kind !== 'task') || !name) return undefined;
  const entry = input.get(name);
  return entry?.kind === kind ? entry : undefined;
}

function header(input: TreeInput): TreeNode | undefined {
  const target = input.cluster;
  if (!target) return undefined;
  const base = { key: 'header', kind: 'header' as const, collapsible: 'none' as const, command: { command: 'tightloop.runDoctor', arguments: [], title: l10n.t('Run Doctor') } };
  if (!target.context) {
    return {
      ...base,
      label: l10n.t('No cluster'),
      description: l10n.t('deploy and ready are skipped'),
      tooltip: `${md(target.problem ?? l10n.t('No kubeconfig.'))}\n\n${l10n.t('Click to run the doctor.')}`,
      icon: { id: 'cloud', color: 'disabledForeground' },
      contextValue: 'header no-cluster',
      ariaLabel: l10n.t('No cluster: deploy and ready are skipped'),
    };
  }
  if (!target.allowed) {
    return {
      ...base,
      label: target.context,
      description: l10n.t('{0} · not allowed: deploys are refused', target.namespace),
      tooltip: l10n.t('Context **{0}** is not in `kubernetes.allowContexts`, so Tightloop changes nothing in it. Add it to `allowContexts` in tightloop.yaml if it is yours to change, or switch to a local cluster.', md(target.context)),
      icon: { id: 'warning', color: 'list.warningForeground' },
      contextValue: 'header refused',
      ariaLabel: l10n.t('Cluster {0}, namespace {1}: not allowed, deploys are refused', target.context, target.namespace),
    };
  }
  return {
    ...base,
    label: target.context,
    description: target.namespace,
    tooltip: l10n.t('Deploys go to context **{0}**, namespace **{1}** ({2}).', md(target.context), md(target.namespace), md(target.server ?? '')),
    icon: { id: 'server-environment' },
    contextValue: 'header allowed',
    ariaLabel: l10n.t('Cluster {0}, namespace {1}', target.context, target.namespace),
  };
}

function message(input: TreeInput): TreeNode {
  const phase = input.phase;
  if (phase.kind === 'config-error') {
    const label = phase.count === 1 ? l10n.t('tightloop.yaml has 1 problem') : l10n.t('tightloop.yaml has {0} problems', phase.count);
    return {
      key: 'message',
      kind: 'message',
      label,
      description: l10n.t('nothing runs until it is fixed'),
      icon: { id: 'error', color: 'errorForeground' },
      contextValue: 'message config-error',
      collapsible: 'none',
      command: { command: 'tightloop.openConfig', arguments: [], title: l10n.t('Open Config') },
      ariaLabel: label,
    };
  }
  const label = l10n.t('Loading tightloop.yaml…');
  return { key: 'message', kind: 'message', label, icon: { id: 'loading~spin' }, contextValue: 'message loading', collapsible: 'none', ariaLabel: label };
}

function group(which: 'services' | 'tasks', input: TreeInput): TreeNode {
  // Only the count: a group's description that followed every run would refresh all its
  // children with it (VS Code re-reads an expanded node's children on refresh).
  const count = (which === 'services' ? input.services() : input.tasks()).length;
  const label = which === 'services' ? l10n.t('Services') : l10n.t('Tasks');
  return {
    key: `group/${which}`,
    kind: 'group',
    label,
    description: String(count),
    icon: { id: which === 'services' ? 'server-process' : 'checklist' },
    contextValue: `group ${which}`,
    collapsible: 'expanded',
    ariaLabel: `${label}: ${count}`,
  };
}

function entryNode(entry: ServiceEntry, input: TreeInput): TreeNode {
  const state = stateOf(entry);
  const busy = state === 'running' || state === 'queued';
  const described = describeEntry(entry, state, input.now);
  const flags = [entry.kind, busy ? 'busy' : 'idle', entry.kind === 'service' ? (entry.manual ? 'manual' : 'auto') : '', entry.portForwards?.length ? 'forwards' : ''].filter(Boolean);
  const hasChildren = Boolean(failureOf(entry) || entry.pending.length || entry.pods?.length || entry.portForwards?.length);
  const tooltip = entry.live || entry.last ? tooltipFor(entry, { phase: input.phase, services: [entry], autoRebuild: input.autoRebuild, now: input.now }, entry.live ? [entry] : []) : idleTooltip(entry);
  return {
    key: entryKey(entry),
    kind: entry.kind,
    label: entry.name,
    description: described,
    tooltip,
    icon: ICONS[state],
    contextValue: flags.join(' '),
    // A failure opens its node so the sentence is seen without a click.
    collapsible: hasChildren ? (failureOf(entry) ? 'expanded' : 'collapsed') : 'none',
    command: { command: 'tightloop.showStageTimings', arguments: [entry.name], title: l10n.t('Show Stage Timings') },
    service: entry.name,
    state,
    ariaLabel: `${entry.name}, ${described}`,
  };
}

/** The description beside the name: state, stage, duration, mode. */
export function describeEntry(entry: ServiceEntry, state: NodeState, now: number): string {
  const parts: string[] = [];
  const last = entry.last;
  switch (state) {
    case 'running': {
      const live = entry.live!;
      parts.push(live.stage ? l10n.t('running {0} · {1}', live.stage, formatElapsed(now - live.startedAt)) : l10n.t('running · {0}', formatElapsed(now - live.startedAt)));
      break;
    }
    case 'queued':
      parts.push(entry.queuedFor ? l10n.t('queued ({0})', entry.queuedFor) : l10n.t('queued'));
      break;
    case 'ok':
      parts.push(l10n.t('ok · {0}', formatDuration(last!.durationMs)));
      break;
    case 'live-synced':
      parts.push(l10n.t('live-synced · {0}', formatDuration(last!.durationMs)));
      break;
    case 'failed':
      parts.push(l10n.t('failed at {0} · {1}', last!.failedStage ?? 'run', formatDuration(last!.durationMs)));
      break;
    case 'cancelled':
      parts.push(l10n.t('cancelled · {0}', formatDuration(last!.durationMs)));
      break;
    default:
      parts.push(l10n.t('not run yet'));
  }
  if (entry.kind === 'service' && entry.manual) parts.push(l10n.t('manual'));
  if (entry.pending.length) parts.push(l10n.t('{0} pending', entry.pending.length));
  return parts.join(' · ');
}

function idleTooltip(entry: ServiceEntry): string {
  const lines = [`**${md(entry.name)}** — ${l10n.t('not run yet')}`];
  if (entry.workload) lines.push('', l10n.t('Deploys {0}.', `\`${md(entry.workload)}\``));
  if (entry.kind === 'service') lines.push('', entry.manual ? l10n.t('Trigger: **manual** (changes are collected, a rebuild applies them).') : l10n.t('Trigger: **auto** (rebuilds on save).'));
  return lines.join('\n');
}

function failureOf(entry: ServiceEntry): string | undefined {
  if (entry.live || entry.last?.status !== 'failed') return undefined;
  return entry.last.error ?? l10n.t('failed at {0}', entry.last.failedStage ?? 'run');
}

function failureNode(entry: ServiceEntry): TreeNode | undefined {
  const sentence = failureOf(entry);
  if (!sentence) return undefined;
  const hint = entry.last?.hint;
  return {
    key: `${entryKey(entry)}/failure`,
    kind: 'failure',
    label: sentence,
    tooltip: [md(sentence), hint ? `\n\n_${l10n.t('Hint:')}_ ${md(hint)}` : '', ...(entry.last?.evidence?.length ? ['\n\n', entry.last.evidence.slice(-5).map((e) => `    ${e}`).join('\n')] : [])].join(''),
    icon: { id: 'warning', color: 'list.errorForeground' },
    contextValue: 'failure',
    collapsible: 'none',
    command: { command: 'tightloop.showStageTimings', arguments: [entry.name], title: l10n.t('Show Stage Timings') },
    service: entry.name,
    ariaLabel: l10n.t('{0} failed: {1}', entry.name, sentence),
  };
}

function pendingNode(entry: ServiceEntry): TreeNode | undefined {
  if (!entry.pending.length) return undefined;
  const label = entry.pending.length === 1 ? l10n.t('1 changed file pending') : l10n.t('{0} changed files pending', entry.pending.length);
  return {
    key: `${entryKey(entry)}/pending`,
    kind: 'pending',
    label,
    tooltip: entry.pending.slice(0, 20).map((f) => `- \`${md(f)}\``).join('\n'),
    icon: { id: 'circle-filled', color: 'charts.yellow' },
    contextValue: 'pending',
    collapsible: 'none',
    command: { command: 'tightloop.rebuildService', arguments: [entry.name], title: l10n.t('Rebuild') },
    service: entry.name,
    ariaLabel: `${entry.name}: ${label}`,
  };
}

function podNode(entry: ServiceEntry, pod: PodSummary): TreeNode {
  const restarts = pod.restarts === 1 ? l10n.t('1 restart') : l10n.t('{0} restarts', pod.restarts);
  const state = pod.ready ? l10n.t('ready') : l10n.t('not ready ({0})', pod.phase);
  return {
    key: `${entryKey(entry)}/pod/${pod.name}`,
    kind: 'pod',
    label: pod.name,
    description: `${state} · ${restarts}`,
    tooltip: l10n.t('Pod of {0} when it last became ready: {1}, {2}.', `\`${md(entry.workload ?? entry.name)}\``, state, restarts),
    icon: { id: 'vm', color: pod.ready ? (pod.restarts > 0 ? 'list.warningForeground' : 'testing.iconPassed') : 'list.warningForeground' },
    contextValue: 'pod',
    collapsible: 'none',
    service: entry.name,
    ariaLabel: l10n.t('pod {0}: {1}, {2}', pod.name, state, restarts),
  };
}

function forwardNode(entry: ServiceEntry, forward: { local: number; remote: number }): TreeNode {
  const url = `http://127.0.0.1:${forward.local}`;
  const active = entry.last?.status === 'ok' || Boolean(entry.live);
  return {
    key: `${entryKey(entry)}/forward/${forward.local}`,
    kind: 'port-forward',
    label: `127.0.0.1:${forward.local}`,
    description: l10n.t('→ {0} port {1}', entry.workload ?? entry.name, forward.remote),
    tooltip: active ? l10n.t('Forwarded to port {0} of the ready pod. Click to open {1}.', forward.remote, url) : l10n.t('Forwarded after the service is ready (not yet). {0}', url),
    icon: { id: 'plug', color: active ? undefined : 'disabledForeground' },
    contextValue: 'port-forward',
    collapsible: 'none',
    command: { command: 'tightloop.openPortForward', arguments: [url], title: l10n.t('Open in Browser') },
    service: entry.name,
    url,
    ariaLabel: l10n.t('port-forward {0} to port {1}', `127.0.0.1:${forward.local}`, forward.remote),
  };
}
