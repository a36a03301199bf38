import { statusCode } from '../client.js';
import type { DynamicClient, ObjectRef } from './dynamic-client.js';
import { FIELD_MANAGER, PROJECT_LABEL, SERVICE_LABEL } from './prepare.js';
import type { KubeObject } from './source.js';

/**
 * Deleting only what Tightloop applied: an object is Tightloop's when it carries the service and
 * project labels Tightloop sets AND Tightloop's field manager appears in its managedFields. Anything
 * else with the same name (created by hand, or by another project) is left alone.
 */

export interface Owner {
  service: string;
  project: string;
}

export function ownedBy(o: KubeObject, owner: Owner): boolean {
  const labels = o.metadata.labels ?? {};
  const managed = (o.metadata.managedFields as { manager?: string }[] | undefined) ?? [];
  return labels[SERVICE_LABEL] === owner.service && labels[PROJECT_LABEL] === owner.project && managed.some((m) => m.manager === FIELD_MANAGER);
}

export const ownerSelector = (owner: Owner) => `${SERVICE_LABEL}=${owner.service},${PROJECT_LABEL}=${owner.project}`;

/** Delete one object if it is Tightloop's; returns what happened. */
export async function deleteIfOwned(client: DynamicClient, ref: ObjectRef, owner: Owner, signal: AbortSignal): Promise<'deleted' | 'gone' | 'not-ours'> {
  let live: KubeObject;
  try {
    live = await client.get(ref, signal);
  } catch (err) {
    if (statusCode(err) === 404 || (err as Error).name === 'UnknownKind') return 'gone';
    throw err;
  }
  if (!ownedBy(live, owner)) return 'not-ours';
  if (live.metadata.deletionTimestamp) return 'deleted';
  try {
    await client.remove(ref, signal);
  } catch (err) {
    if (statusCode(err) === 404) return 'gone';
    throw err;
  }
  return 'deleted';
}

/** Resolves once every ref is gone (404), re-checking with a short backoff; throws at the deadline. */
export async function waitGone(client: DynamicClient, refs: ObjectRef[], signal: AbortSignal, timeoutMs: number): Promise<ObjectRef[]> {
  const end = Date.now() + timeoutMs;
  let left = refs;
  let delay = 25;
  while (left.length) {
    const still: ObjectRef[] = [];
    for (const r of left) {
      try {
        await client.get(r, signal);
        still.push(r);
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
    }
    left = still;
    if (!left.length || Date.now() > end || signal.aborted) break;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 500);
  }
  return left;
}
