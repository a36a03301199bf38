import { formatClock, formatDuration } from '../../src/shared/format.js';
import type { HistoryPoint, ServiceHistory } from '../../src/shared/messages.js';
import { h, place } from '../dom.js';
import { sparkline } from './sparkline.js';

/** Rows of the run list drawn at most; the sparkline and percentiles still use every run. */
const MAX_ROWS = 100;

export interface HistoryOptions {
  open: boolean;
  pinned?: string;
  onToggle(open: boolean): void;
  onPick(point: HistoryPoint): void;
}

export function renderHistory(history: ServiceHistory | undefined, options: HistoryOptions): HTMLElement {
  const points = history?.points ?? [];
  const slow = points.filter((p) => p.slow);
  const failed = points.filter((p) => p.status === 'failed');
  const cancelled = points.filter((p) => p.status === 'cancelled');
  const details = h('details', { class: 'history' });
  details.open = options.open && points.length > 0;
  const summary = h(
    'summary',
    {},
    h('span', { class: 'history-title' }, 'History'),
    h('span', { class: 'muted' }, points.length ? `${points.length} run${points.length === 1 ? '' : 's'} · median ${formatDuration(history!.medianMs)}` : 'no runs recorded yet'),
    slow.length ? h('span', { class: 'flag slow' }, `${slow.length} slow`) : null,
    failed.length ? h('span', { class: 'flag failed' }, `${failed.length} failed`) : null,
    cancelled.length ? h('span', { class: 'flag cancelled' }, `${cancelled.length} cancelled`) : null,
    points.length > 1 ? sparkline(points, 160, 22, 'spark small') : null,
  );
  details.appendChild(summary);
  details.addEventListener('toggle', () => options.onToggle(details.open));
  if (!history || points.length === 0) return details;

  const body = h('div', { class: 'history-body' });
  const max = Math.max(...points.map((p) => p.durationMs));
  body.appendChild(
    h(
      'div',
      { class: 'spark-box' },
      sparkline(points, 600, 56, 'spark large'),
      h(
        'div',
        { class: 'spark-legend muted' },
        h('span', {}, `Total per run, oldest → newest · longest ${formatDuration(max)}`),
        h('span', { class: 'legend-item failed' }, 'failed'),
        h('span', { class: 'legend-item slow' }, 'slow'),
      ),
    ),
  );
  body.appendChild(renderStats(history));
  body.appendChild(renderRuns(points, options));
  details.appendChild(body);
  return details;
}

function renderStats(history: ServiceHistory): HTMLElement {
  const max = Math.max(1, ...history.stats.map((s) => s.p95));
  const table = h('table', { class: 'stats' });
  table.appendChild(h('thead', {}, h('tr', {}, h('th', {}, 'Stage'), h('th', { class: 'num' }, 'p50'), h('th', { class: 'num' }, 'p95'), h('th', { class: 'spread', title: 'p50 (solid) and p95 (light) on one scale' }, 'p50 · p95'), h('th', { class: 'num' }, 'runs'))));
  const tbody = h('tbody');
  for (const s of history.stats) {
    const spread = h('span', { class: 'range' });
    const p95 = h('span', { class: 'range-p95' });
    place(p95, 0, (s.p95 / max) * 100);
    const p50 = h('span', { class: 'range-p50' });
    place(p50, 0, (s.p50 / max) * 100);
    spread.append(p95, p50);
    tbody.appendChild(h('tr', {}, h('td', {}, s.stage), h('td', { class: 'num' }, formatDuration(s.p50)), h('td', { class: 'num' }, formatDuration(s.p95)), h('td', { class: 'spread' }, spread), h('td', { class: 'num muted' }, s.count)));
  }
  table.appendChild(tbody);
  return table;
}

function renderRuns(points: HistoryPoint[], options: HistoryOptions): HTMLElement {
  const newestFirst = [...points].reverse();
  const shown = newestFirst.slice(0, MAX_ROWS);
  const max = Math.max(1, ...shown.map((p) => p.durationMs));
  const list = h('div', { class: 'runs', attrs: { role: 'list', 'aria-label': 'Recent runs, newest first' } });
  for (const point of shown) {
    const bar = h('span', { class: 'run-bar' });
    place(bar, 0, (point.durationMs / max) * 100);
    const flag = point.slow
      ? h('span', { class: 'flag slow', title: `${point.slow.factor}× the median; ${point.slow.stage} took ${formatDuration(point.slow.excessMs)} longer than its own median` }, `slow ×${point.slow.factor} · ${point.slow.stage} +${formatDuration(point.slow.excessMs)}`)
      : point.status !== 'ok'
        ? h('span', { class: `flag ${point.status}` }, point.status)
        : h('span', {});
    const row = h(
      'div',
      {
        class: `run-row state-${point.status}${point.slow ? ' is-slow' : ''}${options.pinned === point.runId ? ' selected' : ''}`,
        title: `${point.trigger ?? ''} — show this run in the waterfall`,
        attrs: { role: 'listitem', tabindex: '0', 'data-run': point.runId },
      },
      h('span', { class: 'run-time' }, h('span', { class: 'wf-dot' }), formatClock(point.startedAt)),
      h('span', { class: 'run-track' }, bar),
      h('span', { class: 'run-total' }, formatDuration(point.durationMs)),
      flag,
    );
    row.addEventListener('click', () => options.onPick(point));
    row.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        options.onPick(point);
      }
    });
    list.appendChild(row);
  }
  if (newestFirst.length > shown.length) list.appendChild(h('div', { class: 'muted more' }, `${newestFirst.length - shown.length} older runs are in the sparkline and percentiles`));
  return list;
}
