import type { ToWebview } from '../../src/shared/messages.js';
import { h } from '../dom.js';

export type LogMessage = Extract<ToWebview, { type: 'log' }>;

export function renderLog(stage: string, log: LogMessage | undefined, onClose: () => void): HTMLElement {
  const close = h('button', { class: 'link', attrs: { type: 'button' }, on: { click: () => onClose() } }, 'Close');
  const head = h('div', { class: 'log-head' }, h('span', { class: 'log-title' }, `Log · ${stage}`), h('span', { class: 'muted' }, log ? describe(log) : 'loading…'), close);
  const pre = h('pre', { class: 'log-lines', attrs: { tabindex: '0', 'aria-label': `${stage} log` } });
  if (log) {
    if (!log.available) pre.appendChild(h('span', { class: 'muted' }, 'This run\'s output is no longer in memory (the panel keeps the last runs of this session); "Show Logs" has everything.'));
    else if (log.lines.length === 0) pre.appendChild(h('span', { class: 'muted' }, 'This stage printed nothing.'));
    for (const line of log.lines) pre.appendChild(h('span', { class: `log-line stream-${line.stream}` }, `${line.text}\n`));
  }
  const view = h('div', { class: 'log-view' }, head, pre);
  // Follow the tail, like a terminal.
  requestAnimationFrame(() => (pre.scrollTop = pre.scrollHeight));
  return view;
}

function describe(log: LogMessage): string {
  if (!log.available) return 'not available';
  return `${log.lines.length} line${log.lines.length === 1 ? '' : 's'}${log.dropped ? ` (${log.dropped} earlier lines dropped)` : ''}`;
}
