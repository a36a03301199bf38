import { readFileSync } from 'node:fs';

/**
 * Who a process is, in a way that survives pid reuse: its pid plus its start time (clock ticks
 * since boot, /proc/PID/stat field 22) plus the boot it belongs to. A bare pid can belong to an
 * unrelated process after the first one ended; the triple cannot.
 */
export interface ProcessIdentity {
  pid: number;
  /** Absent where there is no /proc (macOS): then only the pid is known. */
  startTicks?: number;
  bootId: string;
}

export interface ProcStat {
  state: string;
  pgrp: number;
  startTicks: number;
}

export function readStat(pid: string | number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp …": comm may contain spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, pgrp: Number(fields[2]), startTicks: Number(fields[19]) };
}

export function processStartTicks(pid: number): number | undefined {
  return readStat(pid)?.startTicks;
}

export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export function currentProcess(): ProcessIdentity {
  return { pid: process.pid, startTicks: processStartTicks(process.pid), bootId: bootId() };
}

/** True while the very process `who` names still runs (a zombie has ended: it runs nothing). */
export function processAlive(who: ProcessIdentity): boolean {
  if (who.bootId !== bootId()) return false;
  const stat = readStat(who.pid);
  if (stat) return stat.state !== 'Z' && (who.startTicks === undefined || stat.startTicks === who.startTicks);
  if (who.startTicks !== undefined) return false; // recorded with /proc, and /proc has no such pid
  try {
    process.kill(who.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
