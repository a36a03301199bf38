import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectRef } from './dynamic-client.js';

/**
 * What Tightloop has applied for a service, kept in .tightloop/state/<service>.applied.json and
 * written right after every apply (successful or not), so pruning and `down` know every object
 * that may exist — also ones applied by a run that failed later — and whether the last apply is
 * still what the cluster was given.
 */

export interface AppliedRecord {
  context: string;
  objects: ObjectRef[];
  /**
   * Written only after a complete apply (never after a failed one, and dropped by `down`): the API
   * server, the applied objects' hash and the apply key (apply-key.ts). A run whose key matches
   * skips the apply; because the record is a file, a `down` from another process is noticed too.
   */
  applied?: { server: string; hash: string; key: string };
}

const fileOf = (root: string, service: string) => path.join(root, '.tightloop', 'state', `${service}.applied.json`);
export const refKey = (r: ObjectRef) => `${r.apiVersion.split('/')[0]}|${r.kind}|${r.namespace ?? ''}|${r.name}`;

/** Synchronous for the same reason as manifestFiles (source.ts): it is on every no-op run's path. */
export async function readAppliedRecord(root: string, service: string): Promise<AppliedRecord | undefined> {
  try {
    return JSON.parse(readFileSync(fileOf(root, service), 'utf8')) as AppliedRecord;
  } catch {
    return undefined;
  }
}

export async function writeAppliedRecord(root: string, service: string, record: AppliedRecord): Promise<void> {
  const file = fileOf(root, service);
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, JSON.stringify(record, null, 1));
  await rename(temp, file);
}

export async function removeAppliedRecord(root: string, service: string): Promise<void> {
  await rm(fileOf(root, service), { force: true });
}

/** Union of refs, first occurrence wins, order kept. */
export function unionRefs(...lists: ObjectRef[][]): ObjectRef[] {
  const seen = new Map<string, ObjectRef>();
  for (const list of lists) for (const r of list) if (!seen.has(refKey(r))) seen.set(refKey(r), r);
  return [...seen.values()];
}
