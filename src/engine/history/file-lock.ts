import { randomBytes } from 'node:crypto';
import { link, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { currentProcess, processAlive, type ProcessIdentity } from '../process-identity.js';

/**
 * A lock between processes (a CLI `watch` and the VS Code extension on one workspace) as a file
 * holding its owner's identity (pid + start time + boot). Taken with link(2), which fails when the
 * file exists and publishes it complete with its content. An owner that died holding it (crash,
 * SIGKILL) leaves a stale lock: the next taker sees the owner is gone and removes it.
 *
 * Removing a stale lock is serialised by a second lock (`<lock>.break`), held for one stat and
 * one unlink: without it, two takers that both saw the same dead owner could each remove the
 * path, the second one deleting the lock the first had meanwhile taken.
 */
export interface HeldLock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** Give up (resolve undefined) when a live owner holds it this long: a hung owner must not hang us. */
  timeoutMs?: number;
  /** Told once per stale lock removed. */
  onStale?: (owner: string) => void;
}

export async function acquireLock(file: string, options: LockOptions = {}): Promise<HeldLock | undefined> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const me = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(me, JSON.stringify(currentProcess()));
  try {
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      if (await tryLink(me, file)) return { release: () => unlink(file).catch(() => {}) };
      if (await removeIfStale(file, me, options.onStale)) continue;
      if (Date.now() > deadline) return undefined;
      await delay(wait);
    }
  } finally {
    await unlink(me).catch(() => {});
  }
}

async function tryLink(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

interface Seen {
  ino: number;
  owner?: ProcessIdentity;
  text: string;
}

async function look(file: string): Promise<Seen | undefined> {
  try {
    const [info, text] = await Promise.all([stat(file), readFile(file, 'utf8')]);
    let owner: ProcessIdentity | undefined;
    try {
      owner = JSON.parse(text) as ProcessIdentity;
      if (typeof owner.pid !== 'number') owner = undefined;
    } catch {
      owner = undefined; // not written by a taker (link publishes complete files): stale
    }
    return { ino: info.ino, owner, text };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const stale = (seen: Seen) => !seen.owner || !processAlive(seen.owner);

/** True when the lock is gone now (removed here or released meanwhile): try to take it again. */
async function removeIfStale(file: string, me: string, onStale?: (owner: string) => void): Promise<boolean> {
  const seen = await look(file);
  if (!seen) return true;
  if (!stale(seen)) return false;
  const breaker = `${file}.break`;
  if (!(await tryLink(me, breaker))) {
    const other = await look(breaker);
    // A breaker that died inside its one stat and unlink: nothing else can free it.
    if (other && stale(other)) await unlink(breaker).catch(() => {});
    return false;
  }
  try {
    const again = await look(file);
    if (!again) return true;
    // Only a breaker removes a dead owner's lock, and we are the only breaker: same inode, same lock.
    if (again.ino !== seen.ino || !stale(again)) return false;
    await unlink(file);
    onStale?.(again.text.trim());
    return true;
  } finally {
    await unlink(breaker).catch(() => {});
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
