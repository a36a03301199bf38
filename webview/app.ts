import type { StageName } from '../src/engine/types.js';
import {
  parsePanelState,
  parseToWebview,
  type HistoryPoint,
  type LiveRun,
  type PanelState,
  type RunView,
  type ServiceHistory,
  type ServicesMessage,
  type ServiceView,
  type ToWebview,
} from '../src/shared/messages.js';
import { h } from './dom.js';
import { renderCard } from './render/card.js';
import type { LogMessage } from './render/log-view.js';
import { button, textField } from './toolkit.js';
import { loadState, post, saveState } from './vscode-api.js';

/** Cards expanded by default; past this many services, cards start collapsed. */
const EXPANDED_BY_DEFAULT = 6;
/** Cards rendered at once; "Show more" adds a page. Many services must not freeze the panel. */
const PAGE = 50;
const TICK_MS = 200;

interface Card {
  el: HTMLElement;
  signature: string;
}

export class App {
  private services?: ServicesMessage;
  private clockOffset = 0;
  private readonly histories = new Map<string, ServiceHistory>();
  private readonly historyVersion = new Map<string, number>();
  private readonly runs = new Map<string, RunView>();
  private log?: LogMessage;
  private logVersion = 0;
  private state: PanelState;
  private readonly cards = new Map<string, Card>();
  private readonly list = h('div', { class: 'cards' });
  private readonly notice = h('div', { class: 'notice-slot' });
  private readonly footer = h('div', { class: 'footer' });
  private readonly configLabel = h('span', { class: 'config-path muted' });
  private readonly toolbar = h('div', { class: 'toolbar' });
  private toolbarSignature = '';
  private pendingFocus?: string;
  /** service/run/stage of the last log asked for, so a restored selection asks once. */
  private requestedLog?: string;

  constructor(private readonly root: HTMLElement) {
    this.state = parsePanelState(loadState());
    root.replaceChildren(
      h(
        'header',
        { class: 'page-head' },
        h('div', { class: 'titles' }, h('h1', {}, 'Stage timings'), this.configLabel),
        textField({ placeholder: 'Filter services', label: 'Filter services', value: this.state.filter, onInput: (value) => this.update({ filter: value }) }),
        this.toolbar,
      ),
      this.notice,
      this.list,
      this.footer,
    );
    setInterval(() => this.tick(), TICK_MS);
  }

  now(): number {
    return Date.now() + this.clockOffset;
  }

  receive(data: unknown): void {
    const parsed = parseToWebview(data);
    if (!parsed.ok) {
      console.warn(`tightloop panel: ignored an invalid message (${parsed.error})`);
      return;
    }
    this.handle(parsed.value);
  }

  private handle(message: ToWebview): void {
    switch (message.type) {
      case 'services':
        this.services = message;
        this.clockOffset = message.now - Date.now();
        break;
      case 'history':
        for (const history of message.histories) {
          this.histories.set(history.service, history);
          this.historyVersion.set(history.service, (this.historyVersion.get(history.service) ?? 0) + 1);
        }
        break;
      case 'run':
        if (message.run) this.runs.set(`${message.service}/${message.runId}`, message.run);
        else this.unpin(message.service);
        break;
      case 'log': {
        const sel = this.state.selection;
        if (!sel || sel.service !== message.service || sel.runId !== message.runId || sel.stage !== message.stage) return;
        this.log = message;
        this.logVersion++;
        break;
      }
      case 'focus':
        this.focus(message.service);
        break;
    }
    this.render();
  }

  private update(patch: Partial<PanelState>): void {
    this.state = { ...this.state, ...patch };
    saveState(this.state);
    this.render();
  }

  private focus(service: string): void {
    const patch: Partial<PanelState> = {};
    if (!this.visibleServices().some((s) => s.name === service)) patch.filter = '';
    // Past the drawn page: draw up to it.
    const index = (patch.filter === '' ? this.services?.services ?? [] : this.visibleServices()).findIndex((s) => s.name === service);
    const limit = this.state.shown ?? PAGE;
    if (index >= limit) patch.shown = Math.ceil((index + 1) / PAGE) * PAGE;
    if (!this.isExpanded(service)) patch.toggled = toggle(this.state.toggled, service);
    this.pendingFocus = service;
    this.update(patch);
  }

  private isExpanded(service: string): boolean {
    const index = this.services?.services.findIndex((s) => s.name === service) ?? 0;
    const byDefault = index < EXPANDED_BY_DEFAULT;
    return this.state.toggled.includes(service) ? !byDefault : byDefault;
  }

  private visibleServices(): ServiceView[] {
    const all = this.services?.services ?? [];
    const filter = this.state.filter.trim().toLowerCase();
    return filter ? all.filter((s) => s.name.toLowerCase().includes(filter)) : all;
  }

  private tick(): void {
    if (this.services?.services.some((s) => s.live)) this.render();
  }

  render(): void {
    const message = this.services;
    if (!message) return;
    const now = this.now();
    this.configLabel.textContent = message.configFile ?? '';
    this.renderToolbar(message);
    this.renderNotice(message);

    const visible = this.visibleServices();
    const limit = this.state.shown ?? PAGE;
    const shown = visible.slice(0, limit);
    const keep = new Set(shown.map((s) => s.name));
    for (const [name, card] of this.cards) {
      if (!keep.has(name)) {
        card.el.remove();
        this.cards.delete(name);
      }
    }
    let previous: Element | null = null;
    for (const view of shown) {
      const el = this.renderService(view, now);
      const expected: ChildNode | null = previous ? previous.nextSibling : this.list.firstChild;
      if (expected !== el) this.list.insertBefore(el, expected);
      previous = el;
    }
    if (shown.length === 0 && message.services.length > 0) this.list.replaceChildren(h('p', { class: 'muted empty' }, `No service matches "${this.state.filter}".`));
    else this.list.querySelector(':scope > p.empty')?.remove();

    this.footer.replaceChildren();
    if (visible.length > shown.length) {
      this.footer.appendChild(button(`Show ${Math.min(PAGE, visible.length - shown.length)} more (${visible.length - shown.length} hidden)`, { onClick: () => this.update({ shown: limit + PAGE }) }));
    }
    if (this.pendingFocus) {
      const card = this.cards.get(this.pendingFocus)?.el;
      this.pendingFocus = undefined;
      if (card) {
        card.scrollIntoView({ block: 'start', behavior: 'smooth' });
        card.classList.add('flash');
        setTimeout(() => card.classList.remove('flash'), 1200);
      }
    }
  }

  private renderService(view: ServiceView, now: number): HTMLElement {
    const name = view.name;
    const expanded = this.isExpanded(name);
    const pinnedId = this.state.pinnedRuns[name];
    const pinned = pinnedId ? { runId: pinnedId, run: this.runs.get(`${name}/${pinnedId}`) } : undefined;
    const shownRun: RunView | LiveRun | undefined = pinned ? pinned.run : (view.live ?? view.last);
    let sel = this.state.selection?.service === name ? this.state.selection : undefined;
    // The selected stage follows the run on display (a new run replaces the old one).
    if (sel && shownRun && sel.runId !== shownRun.runId) {
      sel = { ...sel, runId: shownRun.runId };
      this.selectStage(name, shownRun.runId, sel.stage, true);
    }
    const log = sel && this.log && this.log.runId === sel.runId && this.log.stage === sel.stage ? this.log : undefined;
    // A selection restored from getState (after a reload) has no log yet: ask for it.
    if (sel && !log && this.requestedLog !== `${name}/${sel.runId}/${sel.stage}`) {
      this.requestedLog = `${name}/${sel.runId}/${sel.stage}`;
      post({ type: 'showLog', service: name, runId: sel.runId, stage: sel.stage });
    }
    const live = Boolean(view.live);
    const signature = JSON.stringify([
      view,
      expanded,
      this.state.historyOpen.includes(name),
      this.historyVersion.get(name) ?? 0,
      sel?.stage,
      sel ? this.logVersion : 0,
      pinnedId,
      pinned?.run ? 1 : 0,
      live ? Math.floor(now / TICK_MS) : Math.floor(now / 30_000),
    ]);
    const existing = this.cards.get(name);
    if (existing && existing.signature === signature) return existing.el;
    const historyOpen = this.state.historyOpen.includes(name);
    const el = renderCard(view, {
      now,
      expanded,
      historyOpen,
      history: this.histories.get(name),
      selectedStage: sel?.stage,
      log,
      pinned,
      onToggle: () => this.update({ toggled: toggle(this.state.toggled, name) }),
      onHistoryToggle: (open) => {
        if (open !== this.state.historyOpen.includes(name)) this.update({ historyOpen: toggle(this.state.historyOpen, name) });
      },
      onSelectStage: (run, stage) => this.selectStage(name, run.runId, stage),
      onCloseLog: () => this.update({ selection: undefined }),
      onPick: (point) => this.pin(name, point),
      onUnpin: () => this.unpin(name),
      onRebuild: () => post({ type: view.kind === 'task' ? 'runTask' : 'rebuild', ...(view.kind === 'task' ? { task: name } : { service: name }) }),
      onCancel: () => post({ type: 'cancel', service: name }),
    });
    if (existing) {
      keepSameActions(existing.el, el);
      existing.el.replaceWith(el);
    }
    this.cards.set(name, { el, signature });
    return el;
  }

  private selectStage(service: string, runId: string, stage: StageName, follow = false): void {
    const current = this.state.selection;
    if (!follow && current && current.service === service && current.runId === runId && current.stage === stage) {
      this.update({ selection: undefined });
      return;
    }
    this.log = undefined;
    this.state = { ...this.state, selection: { service, runId, stage } };
    saveState(this.state);
    this.requestedLog = `${service}/${runId}/${stage}`;
    post({ type: 'showLog', service, runId, stage });
    if (!follow) this.render();
  }

  private pin(service: string, point: HistoryPoint): void {
    const latest = this.services?.services.find((s) => s.name === service);
    if (latest?.last?.runId === point.runId && !latest.live) return this.unpin(service);
    if (!this.runs.has(`${service}/${point.runId}`)) post({ type: 'showRun', service, runId: point.runId });
    this.update({ pinnedRuns: { ...this.state.pinnedRuns, [service]: point.runId } });
  }

  private unpin(service: string): void {
    const { [service]: _removed, ...rest } = this.state.pinnedRuns;
    this.update({ pinnedRuns: rest });
  }

  private renderToolbar(message: ServicesMessage): void {
    const busy = message.services.some((s) => s.live || s.queued);
    const ready = !message.notice || message.notice.kind === 'info' && message.services.length > 0;
    const signature = JSON.stringify([busy, message.tasks.length, ready, Boolean(message.configFile)]);
    if (signature === this.toolbarSignature) return;
    this.toolbarSignature = signature;
    const items: HTMLElement[] = [];
    if (message.services.length > 0) items.push(button('Rebuild All', { appearance: 'primary', title: 'Rebuild every service', onClick: () => post({ type: 'rebuild' }) }));
    if (message.services.length > 0) items.push(button('Cancel', { title: 'Cancel every run', disabled: !busy, onClick: () => post({ type: 'cancel' }) }));
    if (message.tasks.length > 0) items.push(button('Run Task…', { title: 'Run one of the config\'s tasks', onClick: () => post({ type: 'runTask' }) }));
    if (message.configFile) items.push(button('Open Config', { title: 'Open tightloop.yaml', onClick: () => post({ type: 'openConfig' }) }));
    items.push(button('Logs', { title: 'Show the Tightloop output channel', onClick: () => post({ type: 'showLogs' }) }));
    this.toolbar.replaceChildren(...items);
  }

  private renderNotice(message: ServicesMessage): void {
    const notice = message.notice;
    if (!notice) {
      this.notice.replaceChildren();
      return;
    }
    const action = notice.action;
    const labels = { createConfig: 'Create Config', openConfig: 'Open Config', manageTrust: 'Manage Workspace Trust' } as const;
    this.notice.replaceChildren(
      h(
        'div',
        { class: `notice ${notice.kind}`, attrs: { role: notice.kind === 'error' ? 'alert' : 'status' } },
        h('span', {}, notice.text),
        action ? button(labels[action], { appearance: 'primary', onClick: () => post({ type: action }) }) : null,
      ),
    );
  }
}

function toggle(list: string[], item: string): string[] {
  return list.includes(item) ? list.filter((x) => x !== item) : [...list, item];
}

/**
 * A running card is drawn again every tick. Its buttons must survive that when they look the
 * same: a button replaced between mousedown and mouseup loses the click (Cancel could not be hit).
 */
function keepSameActions(from: Element, to: Element): void {
  const old = from.querySelector('.card-head > .actions');
  const next = to.querySelector('.card-head > .actions');
  if (old && next && old.getAttribute('data-signature') === next.getAttribute('data-signature')) next.replaceWith(old);
}
