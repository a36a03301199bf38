import { formatClock, formatDuration } from '../../src/shared/format.js';
import { sparklinePoints } from '../../src/shared/history.js';
import type { HistoryPoint } from '../../src/shared/messages.js';
import { svg } from '../dom.js';

/** Total time per run, oldest → newest; failed runs and slow runs are marked with dots. */
export function sparkline(points: HistoryPoint[], width: number, height: number, className: string): SVGSVGElement {
  const coords = sparklinePoints(points.map((p) => p.durationMs), width, height, 3);
  const root = svg('svg', { class: className, viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `Total time of the last ${points.length} runs` });
  if (coords.length === 0) return root;
  const line = coords.map((c) => `${c.x},${c.y}`).join(' ');
  root.appendChild(svg('polyline', { class: 'spark-line', points: line, 'vector-effect': 'non-scaling-stroke' }));
  coords.forEach((c, i) => {
    const point = points[i]!;
    const kind = point.status !== 'ok' ? point.status : point.slow ? 'slow' : i === coords.length - 1 ? 'last' : '';
    if (!kind) return;
    const dot = svg('circle', { class: `spark-dot ${kind}`, cx: c.x, cy: c.y, r: 2.2, 'vector-effect': 'non-scaling-stroke' });
    dot.appendChild(svg('title', {}, document.createTextNode(`${formatClock(point.startedAt)} · ${formatDuration(point.durationMs)} · ${point.status}${point.slow ? ` · slow (${point.slow.stage})` : ''}`)));
    root.appendChild(dot);
  });
  return root;
}
