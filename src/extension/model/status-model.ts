import type { RunSummary, TimingRecord } from '../../engine/types.js';
import { formatElapsed, formatDuration } from '../../shared/format.js';
import { l10n } from '../l10n.js';
import type { ServiceEntry } from './run-model.js';

/** Where the extension stands before any run can be pictured. */
export type Phase =
  | { kind: 'no-config' }
  | { kind: 'untrusted' }
  | { kind: 'loading' }
  | { kind: 'config-error'; file: string; count: number }
  | { kind: 'ready' };

export type PictureKind = 'idle' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'no-config' | 'untrusted' | 'config-error' | 'loading';

export interface StatusPicture {
  kind: PictureKind;
  /** Status-bar text with $(icon) syntax. */
  text: string;
  /** Markdown with command links (trusted for COMMANDS_IN_TOOLTIP only). */
  tooltip: string;
  /** Paint with statusBarItem.errorBackground. */
  error: boolean;
  /** The service the picture is about, if any. */
  service?: string;
  /** Click: the command and its arguments. */
  command: { command: string; arguments?: unknown[] };
  /** True while something runs: the elapsed time in the text needs a ticking refresh. */
  ticking: boolean;
}

export interface StatusInput {
  phase: Phase;
  /** Services considered (already filtered by the `statusBar.services` setting). */
  services: ServiceEntry[];
  autoRebuild: boolean;
  now: number;
}

export const CLICK_COMMAND = 'tightloop.rebuildCurrentFile';
export const COMMANDS_IN_TOOLTIP = [
  'tightloop.rebuildService',
  'tightloop.rebuildAll',
  'tightloop.cancelRun',
  'tightloop.showStageTimings',
  'tightloop.showLogs',
  'tightloop.openConfig',
  'tightloop.createConfig',
  'tightloop.toggleAutoRebuild',
  'workbench.trust.manage',
  'workbench.actions.view.problems',
];

/**
 * The status bar's single picture: running beats failed beats the latest result. A failure stays
 * visible until that service succeeds again, even if another service succeeded since.
 */
export function statusPicture(input: StatusInput): StatusPicture {
  const { phase } = input;
  const base = { error: false, ticking: false, command: { command: CLICK_COMMAND } };
  if (phase.kind === 'no-config') {
    return { ...base, kind: 'no-config', text: '$(tools) Tightloop', tooltip: `${l10n.t('No `tightloop.yaml` in this workspace.')}\n\n${link(l10n.t('Create Config'), 'tightloop.createConfig')}`, command: { command: 'tightloop.createConfig' } };
  }
  if (phase.kind === 'untrusted') {
    return {
      ...base,
      kind: 'untrusted',
      text: '$(shield) Tightloop',
      tooltip:
        `${l10n.t('**Restricted Mode**: Tightloop runs the commands in `tightloop.yaml` (compile, image builds, deploys), so it runs nothing until you trust this workspace.')}\n\n` +
        link(l10n.t('Manage Workspace Trust'), 'workbench.trust.manage'),
      command: { command: 'workbench.trust.manage' },
    };
  }
  if (phase.kind === 'loading') return { ...base, kind: 'loading', text: `$(loading~spin) ${l10n.t('Tightloop: loading')}`, tooltip: l10n.t('Loading `tightloop.yaml`…') };
  if (phase.kind === 'config-error') {
    const what = phase.count === 1 ? l10n.t('1 problem') : l10n.t('{0} problems', phase.count);
    return {
      ...base,
      kind: 'config-error',
      error: true,
      text: `$(error) ${l10n.t('Tightloop: config')}`,
      tooltip: `${l10n.t('`tightloop.yaml` has {0}; nothing runs until it is fixed.', what)}\n\n${link(l10n.t('Open Config'), 'tightloop.openConfig')} · ${link(l10n.t('Show Problems'), 'workbench.actions.view.problems')}`,
      command: { command: 'tightloop.openConfig' },
    };
  }

  const pending = input.services.filter((s) => s.pending.length > 0);
  const pendingSuffix = pending.length ? ` $(circle-filled) ${l10n.t('{0} pending', pending.length)}` : '';
  const running = input.services.filter((s) => s.live);
  if (running.length > 0) {
    const first = running[0]!;
    const live = first.live!;
    const elapsed = formatElapsed(input.now - live.startedAt);
    const more = running.length > 1 ? ` +${running.length - 1}` : '';
    const stage = live.stage ? ` · ${live.stage}` : '';
    return {
      ...base,
      kind: 'running',
      ticking: true,
      service: first.name,
      text: `$(sync~spin) ${first.name}${stage} · ${elapsed}${more}`,
      tooltip: tooltipFor(first, input, running),
    };
  }

  const failed = input.services.filter((s) => s.last && s.last.status === 'failed').sort(byEnd);
  const finished = input.services.filter((s) => s.last).sort(byEnd);
  const picked = failed.at(-1) ?? finished.at(-1);
  if (!picked?.last) {
    return { ...base, kind: 'idle', text: `$(play) Tightloop${pendingSuffix}`, tooltip: idleTooltip(input, pending) };
  }
  const last = picked.last;
  if (last.status === 'failed') {
    const stage = last.failedStage ?? 'run';
    return { ...base, kind: 'failed', error: true, service: picked.name, text: `$(error) ${l10n.t('{0}: {1} failed', picked.name, stage)}${pendingSuffix}`, tooltip: tooltipFor(picked, input, []) };
  }
  if (last.status === 'cancelled') {
    return { ...base, kind: 'cancelled', service: picked.name, text: `$(circle-slash) ${l10n.t('{0} cancelled', picked.name)}${pendingSuffix}`, tooltip: tooltipFor(picked, input, []) };
  }
  return { ...base, kind: 'succeeded', service: picked.name, text: `$(check) ${picked.name} ${formatDuration(last.durationMs)}${pendingSuffix}`, tooltip: tooltipFor(picked, input, []) };
}

function byEnd(a: ServiceEntry, b: ServiceEntry): number {
  return end(a.last!) - end(b.last!);
}

function end(run: RunSummary): number {
  return run.startedAt + run.durationMs;
}

function idleTooltip(input: StatusInput, pending: ServiceEntry[]): string {
  const lines = [input.autoRebuild ? l10n.t('**Tightloop** — {0} service(s), no run yet. Auto-rebuild on save is **on**.', input.services.length) : l10n.t('**Tightloop** — {0} service(s), no run yet. Auto-rebuild on save is **off**.', input.services.length)];
  lines.push(...waitingLines(input.services));
  lines.push(...pendingLines(pending));
  lines.push('', actions(false, undefined));
  return lines.join('\n');
}

/** Every queued or held service with the engine's reason (Tilt's hold reasons). */
function waitingLines(services: ServiceEntry[]): string[] {
  const waiting = services.filter((s) => s.waiting && !s.live);
  return waiting.length ? ['', ...waiting.map((s) => `- \`${md(s.name)}\`: ${md(s.waiting!)}`)] : [];
}

function pendingLines(pending: ServiceEntry[]): string[] {
  return pending.length ? ['', ...pending.map((s) => `- \`${md(s.name)}\`: ${l10n.t('changes pending ({0} file(s))', s.pending.length)} — ${link(l10n.t('Rebuild'), 'tightloop.rebuildService', [s.name])}`)] : [];
}

/** The last (or live) run of `entry` as a stage table, then actions. */
export function tooltipFor(entry: ServiceEntry, input: StatusInput, running: ServiceEntry[]): string {
  const lines: string[] = [];
  const live = entry.live;
  let records: TimingRecord[];
  if (live) {
    lines.push(`**${md(entry.name)}** — ${live.stage ? l10n.t('running `{0}` for {1}', live.stage, formatElapsed(input.now - live.startedAt)) : l10n.t('running for {0}', formatElapsed(input.now - live.startedAt))} (${md(live.trigger)})`);
    records = live.records;
  } else {
    const last = entry.last!;
    const verdict = last.status === 'ok' ? l10n.t('succeeded in {0}', formatDuration(last.durationMs)) : last.status === 'failed' ? l10n.t('**failed** at `{0}`', last.failedStage ?? 'run') : l10n.t('cancelled');
    lines.push(`**${md(entry.name)}** — ${verdict}`);
    records = last.records;
    if (last.status !== 'ok' && last.error) lines.push('', `> ${md(last.error)}`);
    if (last.hint) lines.push('', `_${l10n.t('Hint:')}_ ${md(last.hint)}`);
  }
  if (records.length > 0 || live?.stage) {
    lines.push('', `| ${l10n.t('Stage')} | ${l10n.t('Time')} | |`, '|:--|--:|:--|');
    let previous: TimingRecord | undefined;
    for (const r of records) {
      // One reason for several skipped stages is said once.
      const same = previous && r.detail && previous.status === r.status && previous.detail === r.detail;
      lines.push(`| ${r.stage} | ${r.status === 'skipped' ? '—' : formatDuration(r.durationMs)} | ${statusIcon(r.status)} ${same ? l10n.t('same as above') : md(short(r.detail ?? ''))} |`);
      previous = r;
    }
    if (live?.stage && !records.some((r) => r.stage === live.stage)) {
      lines.push(`| ${live.stage} | ${formatElapsed(input.now - (live.stageStartedAt ?? live.startedAt))} | $(sync~spin) ${l10n.t('running')} |`);
    }
  }
  if (running.length > 1) lines.push('', l10n.t('Also running: {0}', running.slice(1).map((s) => `\`${md(s.name)}\``).join(', ')));
  lines.push(...waitingLines(input.services));
  lines.push(...pendingLines(input.services.filter((s) => s.pending.length > 0)));
  lines.push('', actions(Boolean(live), entry.name));
  lines.push('', `${input.autoRebuild ? l10n.t('Auto-rebuild on save: **on**') : l10n.t('Auto-rebuild on save: **off**')} (${link(l10n.t('toggle'), 'tightloop.toggleAutoRebuild')})`);
  return lines.join('\n');
}

function actions(running: boolean, service: string | undefined): string {
  const parts: string[] = [];
  if (running) parts.push(link(`$(debug-stop) ${l10n.t('Cancel')}`, 'tightloop.cancelRun', service ? [service] : undefined));
  if (service) parts.push(link(`$(refresh) ${l10n.t('Rebuild {0}', md(service))}`, 'tightloop.rebuildService', [service]));
  parts.push(link(`$(run-all) ${l10n.t('Rebuild All')}`, 'tightloop.rebuildAll'));
  parts.push(link(`$(graph) ${l10n.t('Stage Timings')}`, 'tightloop.showStageTimings', service ? [service] : undefined));
  parts.push(link(`$(output) ${l10n.t('Logs')}`, 'tightloop.showLogs'));
  return parts.join(' · ');
}

function statusIcon(status: TimingRecord['status']): string {
  return { ok: '$(check)', failed: '$(error)', skipped: '$(debug-step-over)', cancelled: '$(circle-slash)' }[status];
}

/** A command link; arguments travel as URI-encoded JSON, as VS Code expects. */
export function link(label: string, command: string, args?: unknown[]): string {
  const query = args ? `?${encodeURIComponent(JSON.stringify(args))}` : '';
  return `[${label}](command:${command}${query} "${label.replace(/\$\([^)]*\)\s*/g, '')}")`;
}

/** Escapes text for a markdown table cell or paragraph. */
export function md(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+!|<>]/g, (c) => `\\${c}`).replace(/\r?\n/g, ' ');
}

function short(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Which services the status bar considers: the configured list (unknown names ignored), or all. */
export function statusBarServices(all: ServiceEntry[], configured: string[]): ServiceEntry[] {
  const services = all.filter((s) => s.kind === 'service');
  if (configured.length === 0) return services;
  const chosen = services.filter((s) => configured.includes(s.name));
  return chosen.length > 0 ? chosen : services;
}
