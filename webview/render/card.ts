import type { StageName } from '../../src/engine/types.js';
import { formatAgo, formatDuration } from '../../src/shared/format.js';
import type { HistoryPoint, LiveRun, RunView, ServiceHistory, ServiceView } from '../../src/shared/messages.js';
import { runElapsed } from '../../src/shared/waterfall.js';
import { h } from '../dom.js';
import { badge, button, spinner } from '../toolkit.js';
import { renderHistory } from './history.js';
import { renderLog, type LogMessage } from './log-view.js';
import { renderWaterfall } from './waterfall.js';

export interface CardContext {
  now: number;
  expanded: boolean;
  historyOpen: boolean;
  history?: ServiceHistory;
  selectedStage?: StageName;
  log?: LogMessage;
  /** A run picked in the history, shown instead of the latest. */
  pinned?: { runId: string; run?: RunView };
  onToggle(): void;
  onHistoryToggle(open: boolean): void;
  onSelectStage(run: RunView | LiveRun, stage: StageName): void;
  onCloseLog(): void;
  onPick(point: HistoryPoint): void;
  onUnpin(): void;
  onRebuild(): void;
  onCancel(): void;
}

export type CardState = 'running' | 'ok' | 'failed' | 'cancelled' | 'idle';

export function cardState(view: ServiceView): CardState {
  if (view.live) return 'running';
  return view.last?.status ?? 'idle';
}

/** One service: header with its state and actions, then the waterfall, log and history. */
export function renderCard(view: ServiceView, ctx: CardContext): HTMLElement {
  const state = cardState(view);
  const card = h('section', { class: `card state-${state}${ctx.expanded ? '' : ' collapsed'}`, attrs: { 'data-service': view.name, 'aria-label': `${view.name}: ${summaryText(view, ctx.now)}` } });
  card.appendChild(renderHead(view, state, ctx));
  if (!ctx.expanded) return card;

  const body = h('div', { class: 'card-body' });
  const pinned = ctx.pinned;
  const run: RunView | LiveRun | undefined = pinned ? pinned.run : (view.live ?? view.last);
  if (pinned) {
    body.appendChild(
      h(
        'div',
        { class: 'pinned' },
        pinned.run ? `Showing an earlier run: ${pinned.run.trigger} · ${formatDuration(pinned.run.durationMs)} · ${formatAgo(pinned.run.startedAt, ctx.now)}` : 'Loading that run…',
        h('button', { class: 'link', attrs: { type: 'button' }, on: { click: () => ctx.onUnpin() } }, view.live ? 'Back to the live run' : 'Back to the latest run'),
      ),
    );
  }
  if (run) {
    body.appendChild(renderWaterfall(run, { kind: view.kind, now: ctx.now, selected: ctx.selectedStage, onSelect: (stage) => ctx.onSelectStage(run, stage) }));
    if (ctx.selectedStage) body.appendChild(renderLog(ctx.selectedStage, ctx.log, ctx.onCloseLog));
  } else if (!pinned) {
    const why = view.waiting
      ? `${view.queued ? 'Queued: ' : ''}${view.waiting}`
      : view.queued
      ? 'Queued: waiting for a dependency or a free build slot…'
      : view.kind === 'task'
        ? 'Not run yet. Press Run; in watch mode it also runs after the services it depends on succeed.'
        : view.manual
          ? 'Not run yet. This service only runs on request (trigger: manual): press Rebuild.'
          : 'Not run yet. Save a file it watches, or press Rebuild.';
    body.appendChild(h('p', { class: 'muted empty' }, why));
  }
  if (view.waiting && (run || pinned)) body.appendChild(h('div', { class: 'pending waiting' }, `${view.queued ? 'Next run queued: ' : ''}${view.waiting}`));
  if (view.pending.length) {
    body.appendChild(h('div', { class: 'pending' }, `Changes pending in ${view.pending.length} file${view.pending.length === 1 ? '' : 's'} (trigger: manual) — Rebuild applies them.`, h('span', { class: 'muted' }, ` ${view.pending.slice(0, 3).map(basename).join(', ')}${view.pending.length > 3 ? '…' : ''}`)));
  }
  body.appendChild(renderHistory(ctx.history, { open: ctx.historyOpen, pinned: pinned?.runId, onToggle: ctx.onHistoryToggle, onPick: ctx.onPick }));
  card.appendChild(body);
  return card;
}

function renderHead(view: ServiceView, state: CardState, ctx: CardContext): HTMLElement {
  const twisty = h('button', { class: 'twisty', attrs: { type: 'button', 'aria-expanded': String(ctx.expanded), 'aria-label': `${ctx.expanded ? 'Collapse' : 'Expand'} ${view.name}` }, on: { click: () => ctx.onToggle() } });
  const badges = h('span', { class: 'badges' });
  if (view.kind === 'task') badges.appendChild(badge('task'));
  else if (view.manual) badges.appendChild(badge('manual', 'trigger: manual — changes only mark it pending'));
  if (view.queued) badges.appendChild(badge('queued', view.waiting ?? 'a run is queued'));
  if (view.pending.length) badges.appendChild(badge(`${view.pending.length} pending`, 'changed files not built yet'));
  if (view.problems) badges.appendChild(badge(`${view.problems} problem${view.problems === 1 ? '' : 's'}`, 'compiler diagnostics in the Problems view'));
  const cancel = Boolean(view.live || view.queued);
  const run = view.kind === 'task' ? 'Run' : 'Rebuild';
  const appearance = view.live ? 'secondary' : 'primary';
  // What the buttons look like: a re-render that keeps it keeps the very same buttons (see app.ts).
  const actions = h('span', { class: 'actions', attrs: { 'data-signature': JSON.stringify([cancel, run, appearance]) } });
  if (cancel) actions.appendChild(button('Cancel', { title: `Cancel ${view.name}`, onClick: ctx.onCancel }));
  actions.appendChild(button(run, { appearance, title: `${run} ${view.name}`, onClick: ctx.onRebuild }));
  return h(
    'header',
    { class: 'card-head', on: { dblclick: () => ctx.onToggle() } },
    twisty,
    state === 'running' ? spinner(`${view.name} is running`) : h('span', { class: `state-dot state-${state}`, attrs: { 'aria-hidden': 'true' } }),
    h('h2', { class: 'name' }, view.name),
    h('span', { class: 'summary' }, summaryText(view, ctx.now)),
    badges,
    actions,
  );
}

export function summaryText(view: ServiceView, now: number): string {
  if (view.live) return `running${view.live.stage ? ` · ${view.live.stage}` : ''} · ${formatDuration(runElapsed(view.live, now))} · ${view.live.trigger}`;
  const last = view.last;
  if (!last) return view.queued ? 'queued' : 'not run yet';
  const ago = formatAgo(last.startedAt + last.durationMs, now);
  if (last.status === 'ok') return `ok in ${formatDuration(last.durationMs)} · ${last.trigger} · ${ago}`;
  if (last.status === 'cancelled') return `cancelled · ${ago}`;
  return `failed at ${last.failedStage ?? 'run'} · ${ago}`;
}

function basename(file: string): string {
  return file.split(/[\\/]/).at(-1) ?? file;
}
