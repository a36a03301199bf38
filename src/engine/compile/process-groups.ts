import { readdirSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { bootId, processStartTicks, readStat } from '../process-identity.js';
import { ensureStateFolderSync, STATE_DIR_NAME } from '../state-dir.js';

/**
 * Every command Tightloop runs gets its own process group. This module knows which groups are
 * running, stops them (TERM, a short grace, then KILL, and waits until the group is empty), and
 * records each one in `.tightloop/processes/` so that after a crash or SIGKILL the next start
 * can find the leftovers and stop them. A record holds the group leader's pid AND its start time
 * (from /proc): a bare pid could meanwhile belong to an unrelated process.
 */

export interface GroupRecord {
  pgid: number;
  /** Start time of the group leader, in clock ticks since boot (/proc/PID/stat field 22). */
  startTicks: number;
  bootId: string;
  command: string;
  name: string;
  /** The Tightloop process that started it (pid + start time): alive means "not a leftover". */
  owner: { pid: number; startTicks: number };
}

interface LiveGroup {
  pgid: number;
  recordFile?: string;
}

const live = new Map<number, LiveGroup>();

process.once('exit', () => {
  // Last resort on a normal exit that skipped the orderly stop: nothing may outlive us.
  for (const pgid of live.keys()) killGroup(pgid, 'SIGKILL');
});

export const DEFAULT_GRACE_MS = 2000;

/** Registers a started group (and records it on disk under `root` when given). */
export function trackGroup(pgid: number, info: { root?: string; name: string; command: string }): void {
  const group: LiveGroup = { pgid };
  live.set(pgid, group);
  const startTicks = processStartTicks(pgid);
  if (!info.root || startTicks === undefined) return;
  const dir = recordDir(info.root);
  const record: GroupRecord = {
    pgid,
    startTicks,
    bootId: bootId(),
    command: info.command.trim().split('\n')[0]!.slice(0, 120),
    name: info.name,
    owner: { pid: process.pid, startTicks: processStartTicks(process.pid) ?? 0 },
  };
  try {
    // Synchronous on purpose: the record must exist before the command can do anything, so a
    // SIGKILL right after the start still leaves it for the next start to find.
    ensureStateFolderSync(info.root, dir);
    group.recordFile = path.join(dir, `${pgid}.json`);
    writeFileSync(group.recordFile, JSON.stringify(record));
  } catch {
    group.recordFile = undefined; // an unwritable .tightloop only loses the crash recovery
  }
}

/** The group ended (or was stopped): forget it, here and on disk. */
export async function untrackGroup(pgid: number): Promise<void> {
  const group = live.get(pgid);
  live.delete(pgid);
  if (group?.recordFile) await rm(group.recordFile, { force: true }).catch(() => {});
}

/** Stops every group this process started and waits until each is empty (CLI signal, deactivate). */
export async function stopAllGroups(graceMs = DEFAULT_GRACE_MS): Promise<number> {
  const groups = [...live.keys()];
  await Promise.all(groups.map((pgid) => terminateGroup(pgid, graceMs)));
  await Promise.all(groups.map((pgid) => untrackGroup(pgid)));
  return groups.length;
}

export function runningGroups(): number[] {
  return [...live.keys()];
}

/**
 * Finds groups recorded by a Tightloop process that is gone (crash, SIGKILL, power loss of the
 * editor) and stops the ones still running. Returns one sentence per stopped group.
 */
export async function stopLeftoverGroups(root: string, graceMs = DEFAULT_GRACE_MS): Promise<string[]> {
  const dir = recordDir(root);
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const stopped: string[] = [];
  const boot = bootId();
  for (const file of files) {
    const full = path.join(dir, file);
    // Read back from disk, so not trusted to be whole: without an owner it counts as a leftover.
    let record: Omit<GroupRecord, 'owner'> & Partial<Pick<GroupRecord, 'owner'>>;
    try {
      record = JSON.parse(await readFile(full, 'utf8')) as GroupRecord;
    } catch {
      await rm(full, { force: true }).catch(() => {});
      continue;
    }
    if (live.has(record.pgid)) continue; // ours, running now
    if (record.owner && processStartTicks(record.owner.pid) === record.owner.startTicks) continue; // another live Tightloop's
    if (record.bootId === boot && groupMembers(record.pgid, record.startTicks).length > 0) {
      await terminateGroup(record.pgid, graceMs, record.startTicks);
      stopped.push(`stopped leftover process group ${record.pgid} of ${record.name} ("${record.command}"), started by a Tightloop process that ended without stopping it`);
    }
    await rm(full, { force: true }).catch(() => {});
  }
  return stopped;
}

function recordDir(root: string): string {
  return path.join(root, STATE_DIR_NAME, 'processes');
}

/**
 * Live (non-zombie) members of the group. With `notBefore`, only processes started at or after
 * the recorded leader: a recycled group id holds only processes started after ours ended, but
 * its leader then has a different start time, which the caller checks first.
 */
function groupMembers(pgid: number, notBefore?: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  if (notBefore !== undefined) {
    const leader = readStat(pgid);
    if (leader && leader.startTicks !== notBefore) return []; // the pid now belongs to someone else
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(entry);
    if (!stat || stat.pgrp !== pgid || stat.state === 'Z') continue;
    if (notBefore !== undefined && stat.startTicks < notBefore) continue;
    members.push(Number(entry));
  }
  return members;
}

export function killGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false; // ESRCH: the group is empty
  }
}

/**
 * True while a process of the group still runs. A killed compiler's children can linger as
 * zombies until PID 1 reaps them (late on some VMs and init-less containers); they hold nothing,
 * so a group of zombies only counts as gone (read from /proc where there is one).
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  try {
    readdirSync('/proc');
  } catch {
    return true; // no /proc: trust kill(0)
  }
  return groupMembers(pgid).length > 0;
}

/** TERM, wait up to `graceMs`, KILL, then wait (bounded) until the group is empty. */
export async function terminateGroup(pgid: number, graceMs: number, leaderStartTicks?: number): Promise<void> {
  if (leaderStartTicks !== undefined && groupMembers(pgid, leaderStartTicks).length === 0) return;
  if (!killGroup(pgid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await delay(20);
  if (groupAlive(pgid)) killGroup(pgid, 'SIGKILL');
  const hardDeadline = Date.now() + 2000;
  while (groupAlive(pgid) && Date.now() < hardDeadline) await delay(20);
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
