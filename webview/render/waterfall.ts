import type { StageName } from '../../src/engine/types.js';
import { formatDuration } from '../../src/shared/format.js';
import type { LiveRun, RunView } from '../../src/shared/messages.js';
import { layoutWaterfall, type WaterfallBar } from '../../src/shared/waterfall.js';
import { h, place } from '../dom.js';

export interface WaterfallOptions {
  kind: 'service' | 'task';
  now: number;
  selected?: StageName;
  onSelect(stage: StageName): void;
}

const STATE_WORD: Record<WaterfallBar['state'], string> = {
  ok: 'ok',
  failed: 'failed',
  skipped: 'skipped',
  cancelled: 'cancelled',
  running: 'running',
  pending: 'waiting',
  'not-run': 'not run',
};

/**
 * One row per stage on a shared time axis: bar length is duration, colour is state. The failing
 * stage gets the engine's diagnosis right under it.
 */
export function renderWaterfall(run: RunView | LiveRun, options: WaterfallOptions): HTMLElement {
  const layout = layoutWaterfall(run, options.kind, options.now);
  const finished = 'status' in run ? run : undefined;
  const rows = h('div', { class: 'waterfall', attrs: { role: 'list', 'aria-label': 'Stages' } });
  const failed = finished && finished.status !== 'ok' ? finished : undefined;
  const atStage = failed?.records.some((r) => r.stage === failed.failedStage);
  // A run that ended before any stage ran (a dependency failed, cancelled while queued): say so first.
  if (failed && !atStage) rows.appendChild(renderFailure(failed));
  let previous: WaterfallBar | undefined;
  for (const bar of layout.bars) {
    // Four stages skipped for one reason read better with the reason said once.
    const repeat = previous && bar.detail && previous.state === bar.state && previous.detail === bar.detail ? previous.stage : undefined;
    rows.appendChild(renderRow(bar, options, repeat));
    previous = repeat ? previous : bar;
    if (failed && atStage && failed.failedStage === bar.stage) rows.appendChild(renderFailure(failed));
  }
  rows.appendChild(renderAxis(layout.totalMs));
  return rows;
}

function renderRow(bar: WaterfallBar, options: WaterfallOptions, sameAs?: StageName): HTMLElement {
  const selectable = bar.state !== 'pending' && bar.state !== 'not-run';
  const label = `${bar.stage}: ${STATE_WORD[bar.state]}${bar.state === 'skipped' || bar.state === 'pending' || bar.state === 'not-run' ? '' : `, ${formatDuration(bar.durationMs)}`}${bar.detail ? ` — ${bar.detail}` : ''}`;
  const track = h('span', { class: 'wf-track' });
  if (bar.state === 'skipped' || bar.state === 'pending' || bar.state === 'not-run') {
    const marker = h('span', { class: 'wf-marker' });
    place(marker, Math.min(bar.offsetPct, 99.5), 0);
    track.appendChild(marker);
  } else {
    const el = h('span', { class: 'wf-bar' });
    place(el, bar.offsetPct, bar.widthPct);
    track.appendChild(el);
  }
  const time =
    bar.state === 'skipped' ? 'skipped' : bar.state === 'pending' ? '…' : bar.state === 'not-run' ? '—' : bar.state === 'running' ? `${formatDuration(bar.durationMs)}…` : formatDuration(bar.durationMs);
  const detail = bar.detail ?? (bar.state === 'pending' ? 'waiting' : bar.state === 'not-run' ? 'not run' : bar.state === 'running' ? 'running' : '');
  const row = h(
    'div',
    {
      class: `wf-row state-${bar.state}${options.selected === bar.stage ? ' selected' : ''}`,
      title: label,
      attrs: { role: 'listitem', 'aria-label': label, 'data-stage': bar.stage, ...(selectable && { tabindex: '0' }) },
    },
    h('span', { class: 'wf-stage' }, h('span', { class: 'wf-dot' }), bar.stage),
    track,
    h('span', { class: 'wf-time' }, time),
    h('span', { class: `wf-detail${sameAs ? ' same' : ''}` }, sameAs ? `same as ${sameAs}` : detail),
  );
  if (selectable) {
    row.addEventListener('click', () => options.onSelect(bar.stage));
    row.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        options.onSelect(bar.stage);
      }
    });
  }
  return row;
}

function renderFailure(run: RunView): HTMLElement {
  const box = h('div', { class: `wf-error state-${run.status}`, attrs: { role: 'alert' } });
  box.appendChild(h('div', { class: 'wf-error-title' }, run.status === 'cancelled' ? 'Cancelled' : `Failed at ${run.failedStage ?? 'run'}`, run.error ? h('span', { class: 'wf-error-message' }, ` — ${withoutStage(run.error, run.failedStage)}`) : null));
  if (run.hint) box.appendChild(h('div', { class: 'wf-hint' }, h('span', { class: 'label' }, 'Fix: '), run.hint));
  if (run.evidence?.length) {
    const lines = run.evidence;
    const pre = h('pre', { class: 'wf-evidence' }, lines.join('\n'));
    box.appendChild(lines.length > 8 ? h('details', {}, h('summary', {}, `${lines.length} lines of evidence`), pre) : pre);
  }
  return box;
}

/** The engine prefixes errors with the stage ("compile: …"); the box already says which. */
function withoutStage(error: string, stage: string | undefined): string {
  return stage && error.startsWith(`${stage}: `) ? error.slice(stage.length + 2) : error;
}

function renderAxis(totalMs: number): HTMLElement {
  const ticks = h('span', { class: 'wf-ticks' });
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const tick = h('span', { class: `wf-tick${fraction === 1 ? ' end' : fraction === 0 ? ' start' : ''}` }, formatDuration(totalMs * fraction));
    place(tick, fraction * 100, 0);
    ticks.appendChild(tick);
  }
  return h('div', { class: 'wf-axis', attrs: { 'aria-hidden': 'true' } }, h('span', {}), ticks, h('span', {}), h('span', {}));
}
