import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureStateFolder, STATE_DIR_NAME } from '../../state-dir.js';
import { bounded } from '../abort.js';
import { oneLine } from '../../text.js';
import type { DirectRegistry } from './session.js';

/** One manifest Tightloop pushed directly: `repository` is the push repository (registry host included). */
export interface PushedEntry {
  repository: string;
  tag: string;
  digest: string;
  /** An image index's per-platform manifests: deleted with it unless something kept still lists them. */
  children?: string[];
  pushedAt: number;
}

/**
 * What Tightloop itself pushed for a service, oldest first, in `.tightloop/state/<service>.registry.json`.
 * The registry GC deletes only what is listed here, so a tag someone else pushed is never a candidate.
 */
export class PushRecord {
  constructor(
    private readonly root: string,
    private readonly service: string,
  ) {}

  get file(): string {
    return path.join(this.root, STATE_DIR_NAME, 'state', `${this.service}.registry.json`);
  }

  async read(): Promise<PushedEntry[]> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as { pushed?: PushedEntry[] };
      return Array.isArray(parsed.pushed) ? parsed.pushed : [];
    } catch {
      return []; // none yet, or unreadable: nothing becomes deletable
    }
  }

  async write(entries: PushedEntry[]): Promise<void> {
    await ensureStateFolder(this.root, path.dirname(this.file));
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify({ pushed: entries }, null, 1));
    await rename(temp, this.file);
  }

  /** Appends (or moves to newest, when re-pushed or reused) one repository:tag. */
  async add(entry: Omit<PushedEntry, 'pushedAt'>, onlyIfKnown = false): Promise<void> {
    const entries = await this.read();
    const same = (e: PushedEntry) => e.repository === entry.repository && e.tag === entry.tag;
    const known = entries.find(same);
    // A tag found in the registry that we did not push (or that was re-pointed) is not ours to record.
    if (onlyIfKnown && known?.digest !== entry.digest) return;
    // Found in the registry again: what was recorded of its index stays known.
    const children = entry.children ?? (known?.digest === entry.digest ? known.children : undefined);
    await this.write([...entries.filter((e) => !same(e)), { ...entry, ...(children?.length && { children }), pushedAt: Date.now() }]);
  }
}

/** Registries that answered a delete with 405/UNSUPPORTED: not asked again while this process lives. */
const deletesDisabled = new Set<string>();

/**
 * Keeps the newest `keep` recorded pushes to the registry's repository plus the protected digests
 * (just pushed, deployed) and deletes the older manifests by digest. A digest still carried by a
 * kept entry or by any tag not in the record is skipped: deleting a manifest removes every tag on it.
 * Never throws except on cancellation; failures are warnings and the entries stay for next time.
 */
export async function collectRegistryGarbage(
  registry: DirectRegistry,
  record: PushRecord,
  keep: number,
  protect: Set<string>,
  log: (text: string, stream?: 'info' | 'warn') => void,
  outer: AbortSignal,
  timeoutMs: number,
): Promise<string[]> {
  const host = registry.delivery.registry;
  const repository = registry.delivery.pushRepository;
  const removed: string[] = [];
  if (deletesDisabled.has(host)) return removed;
  const limit = bounded(outer, timeoutMs);
  const signal = limit.signal;
  try {
    const entries = await record.read();
    const ours = entries.filter((e) => e.repository === repository);
    const split = Math.max(0, ours.length - keep);
    const kept = new Set([...ours.slice(split).map((e) => e.digest), ...protect]);
    const candidates = ours.slice(0, split).filter((e) => !kept.has(e.digest));
    if (candidates.length === 0) return removed;

    const foreign = await foreignDigests(registry, new Set(ours.map((e) => e.tag)), signal);
    const gone = new Set<PushedEntry>();
    const deleted = new Map<string, boolean>();
    for (const entry of candidates) {
      if (foreign.has(entry.digest)) continue; // someone else's tag points at it too
      let outcome = deleted.get(entry.digest);
      if (outcome === undefined) {
        const status = await registry.deleteManifest(entry.digest, signal);
        if (status === 'unsupported') {
          deletesDisabled.add(host);
          log(`registry GC is off for ${host}: the registry has deletes disabled (storage.delete.enabled); old tl- tags stay there`, 'warn');
          break;
        }
        outcome = status === 'deleted' || status === 'missing';
        if (!outcome) log(`registry GC kept ${repository}:${entry.tag}: ${status}`, 'warn');
        deleted.set(entry.digest, outcome);
        if (status === 'deleted') removed.push(entry.tag);
      }
      if (outcome) gone.add(entry);
    }
    // A deleted index leaves its platforms' manifests untagged in the registry for good: delete
    // those no surviving index of ours (kept, or whose delete failed) nor anyone else's tag lists.
    const stillListed = new Set([...kept, ...foreign, ...ours.filter((e) => !gone.has(e)).flatMap((e) => e.children ?? [])]);
    for (const child of new Set([...gone].flatMap((e) => e.children ?? []))) {
      if (stillListed.has(child)) continue;
      const status = await registry.deleteManifest(child, signal);
      if (status !== 'deleted' && status !== 'missing') log(`registry GC left the platform manifest ${child.slice(0, 19)}… in ${repository}: ${status}`, 'warn');
    }
    if (gone.size) {
      // Re-read: only this service's queue writes the record, but keep whatever it holds now.
      await record.write((await record.read()).filter((e) => ![...gone].some((g) => g.repository === e.repository && g.tag === e.tag && g.digest === e.digest)));
    }
    if (removed.length) log(`registry GC removed ${removed.length} old tag(s) from ${repository}, keeping the newest ${keep}: ${removed.join(', ')}`, 'info');
  } catch (error) {
    if (outer.aborted) throw error;
    const why = limit.timedOut() ? `did not finish within ${timeoutMs / 1000} s` : oneLine((error as Error).message);
    log(`registry GC skipped for ${repository} (will retry after the next push): ${why}`, 'warn');
  }
  return removed;
}

/**
 * Digests the repository's tags that are not in our record point at, with the manifests those list
 * when they are indexes (a tag gone meanwhile is ignored).
 */
async function foreignDigests(registry: DirectRegistry, ourTags: Set<string>, signal: AbortSignal): Promise<Set<string>> {
  const digests = new Set<string>();
  for (const tag of await registry.listTags(signal)) {
    if (ourTags.has(tag)) continue;
    const found = await registry.manifestReferences(tag, signal);
    if (!found) continue;
    digests.add(found.digest);
    for (const child of found.children) digests.add(child);
  }
  return digests;
}
