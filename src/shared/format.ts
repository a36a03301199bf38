/**
 * Formatting for people, shared by the CLI, stage details, diagnosis, the status bar, quick picks
 * and the webview (no Node, no DOM). Every value is rounded to the precision it is shown at
 * BEFORE the unit is chosen, so a value never prints as "60.0 s" or "1m 60s".
 */

/** "12 ms", "1.84 s", "12.3 s", "1m 05s", "2h 03m"; "–" for a negative or non-finite value. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`;
  const hundredths = Math.round(ms / 10);
  if (hundredths < 1000) return `${(hundredths / 100).toFixed(2)} s`;
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)} s`;
  return minutesAndMore(ms);
}

/**
 * The ticking form for a run in progress (status bar, tree): one decimal under a minute so the
 * text keeps its width while it counts ("3.2s"), then the same as formatDuration.
 */
export function formatElapsed(ms: number): string {
  const tenths = Math.round(Math.max(0, ms) / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  return minutesAndMore(ms);
}

function minutesAndMore(ms: number): string {
  const totalSeconds = Math.round(ms / 1000);
  const minutes = Math.floor(totalSeconds / 60);
  if (minutes < 60) return `${minutes}m ${pad2(totalSeconds % 60)}s`;
  const totalMinutes = Math.round(ms / 60_000);
  return `${Math.floor(totalMinutes / 60)}h ${pad2(totalMinutes % 60)}m`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

const KIB = 1024;

/** "512 B", "1.5 KiB", "3.0 MiB", "1.25 GiB" (binary units); "–" for a negative or non-finite value. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  if (Math.round(bytes) < KIB) return `${Math.round(bytes)} B`;
  const kib = Math.round((bytes / KIB) * 10) / 10;
  if (kib < KIB) return `${kib.toFixed(1)} KiB`;
  const mib = Math.round((bytes / KIB ** 2) * 10) / 10;
  if (mib < KIB) return `${mib.toFixed(1)} MiB`;
  return `${(bytes / KIB ** 3).toFixed(2)} GiB`;
}

export function formatAgo(then: number, now: number): string {
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

/** Clock time of day, locale-independent so tests and screenshots are stable: "14:03:27". */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
