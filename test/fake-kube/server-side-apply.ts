import type { KObj } from './store.js';

/**
 * Server-side apply as the API server does it (structured-merge-diff, simplified to what
 * manifests of the served kinds need):
 *  - the applied object's fields become the manager's field set (managedFields, FieldsV1);
 *  - a field another manager owns, with a different live value, is a conflict: 409 naming the
 *    manager and the field, unless force=true, which moves ownership to the applier;
 *  - fields the manager applied last time and omits now are removed, unless someone else owns them;
 *  - lists of objects with a `name` (containers, env, volumes…) or a port merge by that key; other
 *    lists are atomic.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are open-ended JSON here */

type Segment = string; // "f:<field>" or "k:<json key>"
type FieldPath = Segment[];

export interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
}

export interface ApplyConflict {
  field: string;
  manager: string;
}

export type ApplyOutcome = { ok: true; object: KObj } | { ok: false; conflicts: ApplyConflict[] };

const SYSTEM_METADATA = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink', 'ownerReferences']);

/** The key of a list item in an associative list, or undefined when the list is atomic. */
function itemKey(item: any): Record<string, unknown> | undefined {
  if (!item || typeof item !== 'object' || Array.isArray(item)) return undefined;
  if (typeof item.name === 'string') return { name: item.name };
  if (item.containerPort !== undefined) return { containerPort: item.containerPort, protocol: item.protocol ?? 'TCP' };
  if (item.port !== undefined) return { port: item.port, protocol: item.protocol ?? 'TCP' };
  return undefined;
}

function isAssociative(list: unknown[]): boolean {
  return list.length > 0 && list.every((i) => itemKey(i) !== undefined);
}

const sameKey = (a: any, b: any) => JSON.stringify(itemKey(a)) === JSON.stringify(itemKey(b));

/** Every leaf field path of an object (what a manager owns when it applies it). */
export function fieldsOf(obj: any): FieldPath[] {
  const out: FieldPath[] = [];
  const walk = (v: any, at: FieldPath) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      for (const [k, child] of Object.entries(v)) walk(child, [...at, `f:${k}`]);
    } else if (Array.isArray(v) && isAssociative(v)) {
      for (const item of v) {
        const key = [...at, `k:${JSON.stringify(itemKey(item))}`];
        out.push(key); // the item itself (its existence)
        for (const [k, child] of Object.entries(item)) walk(child, [...key, `f:${k}`]);
      }
    } else out.push(at);
  };
  for (const [k, v] of Object.entries(obj ?? {})) {
    if (k === 'apiVersion' || k === 'kind' || k === 'status') continue;
    if (k === 'metadata') {
      for (const [mk, mv] of Object.entries(v as object)) if (!SYSTEM_METADATA.has(mk)) walk(mv, ['f:metadata', `f:${mk}`]);
      continue;
    }
    walk(v, [`f:${k}`]);
  }
  return out;
}

const pathKey = (p: FieldPath) => p.join('\u0000');

/** `.spec.template.spec.containers[name="api"].image`, the way the API server names fields in conflicts. */
export function fieldString(p: FieldPath): string {
  return p
    .map((s) => {
      if (s.startsWith('f:')) return `.${s.slice(2)}`;
      const key = JSON.parse(s.slice(2)) as Record<string, unknown>;
      return `[${Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
    })
    .join('');
}

/** Value at a field path, or undefined. */
function valueAt(obj: any, p: FieldPath): unknown {
  let cur = obj;
  for (const s of p) {
    if (cur === undefined || cur === null) return undefined;
    if (s.startsWith('f:')) cur = cur[s.slice(2)];
    else {
      if (!Array.isArray(cur)) return undefined;
      const key = s.slice(2);
      cur = cur.find((i) => JSON.stringify(itemKey(i)) === key);
    }
  }
  return cur;
}

function removeAt(obj: any, p: FieldPath): void {
  const parent = valueAt(obj, p.slice(0, -1));
  const last = p[p.length - 1]!;
  if (parent === undefined || parent === null || typeof parent !== 'object') return;
  if (last.startsWith('f:')) delete (parent as any)[last.slice(2)];
  else if (Array.isArray(parent)) {
    const i = parent.findIndex((x) => JSON.stringify(itemKey(x)) === last.slice(2));
    if (i >= 0) parent.splice(i, 1);
  }
}

export function toFieldsV1(paths: FieldPath[]): Record<string, unknown> {
  const root: Record<string, any> = {};
  for (const p of paths) {
    let cur = root;
    for (const s of p) cur = cur[s] ??= {};
    cur['.'] = {};
  }
  // A leaf is written as {} (kube writes "." only for list items and maps that are set themselves).
  const tidy = (n: Record<string, any>): Record<string, any> => {
    const keys = Object.keys(n).filter((k) => k !== '.');
    if (keys.length === 0) return {};
    return Object.fromEntries([...(n['.'] && Object.keys(n).some((k) => k.startsWith('k:') || k.startsWith('f:')) ? [['.', {}]] : []), ...keys.map((k) => [k, tidy(n[k])])]);
  };
  return tidy(root);
}

export function fromFieldsV1(fields: Record<string, unknown> | undefined): FieldPath[] {
  const out: FieldPath[] = [];
  const walk = (n: Record<string, any>, at: FieldPath) => {
    const keys = Object.keys(n).filter((k) => k !== '.');
    if (keys.length === 0 || n['.']) out.push(at);
    for (const k of keys) walk(n[k], [...at, k]);
  };
  for (const [k, v] of Object.entries(fields ?? {})) walk(v as Record<string, any>, [k]);
  return out.filter((p) => p.length > 0);
}

/** Merge `applied` into `live`: maps recursively, associative lists by key, everything else replaced. */
function merge(live: any, applied: any): any {
  if (Array.isArray(applied)) {
    if (!Array.isArray(live) || !isAssociative(applied)) return structuredClone(applied);
    const out = live.map((item) => {
      const match = applied.find((a) => sameKey(a, item));
      return match ? merge(item, match) : item;
    });
    for (const a of applied) if (!live.some((item) => sameKey(a, item))) out.push(structuredClone(a));
    return out;
  }
  if (applied && typeof applied === 'object') {
    const out = live && typeof live === 'object' && !Array.isArray(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) out[k] = merge(out[k], v);
    return out;
  }
  return applied;
}

function managersOf(obj: KObj | undefined): ManagedEntry[] {
  return structuredClone((obj?.metadata.managedFields as ManagedEntry[] | undefined) ?? []);
}

/**
 * Apply `applied` by `manager` over `live` (undefined = create). Returns the new object (without
 * identity/status handling, which the caller's registry strategy does) or the conflicts.
 */
export function serverSideApply(live: KObj | undefined, applied: KObj, manager: string, force: boolean): ApplyOutcome {
  const entries = managersOf(live);
  const appliedFields = fieldsOf(applied);
  const owners = new Map<string, Set<string>>(); // path → managers
  for (const e of entries) for (const p of fromFieldsV1(e.fieldsV1)) {
    const k = pathKey(p);
    if (!owners.has(k)) owners.set(k, new Set());
    owners.get(k)!.add(e.manager);
  }

  if (live) {
    const conflicts: ApplyConflict[] = [];
    for (const p of appliedFields) {
      const others = [...(owners.get(pathKey(p)) ?? [])].filter((m) => m !== manager);
      if (!others.length) continue;
      if (p[p.length - 1]!.startsWith('k:')) continue; // a list item's existence: its fields decide
      if (JSON.stringify(valueAt(live, p)) === JSON.stringify(valueAt(applied, p))) continue; // same value: shared ownership
      for (const m of others) conflicts.push({ field: fieldString(p), manager: m });
    }
    if (conflicts.length && !force) return { ok: false, conflicts };
    if (force) {
      const taken = new Set(conflicts.map((c) => c.field));
      for (const e of entries) {
        if (e.manager === manager) continue;
        e.fieldsV1 = toFieldsV1(fromFieldsV1(e.fieldsV1).filter((p) => !taken.has(fieldString(p))));
      }
    }
  }

  let result: KObj = live ? merge(live, applied) : structuredClone(applied);
  // Fields this manager applied before and dropped now go, unless another manager owns them.
  const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply');
  if (live && mine) {
    const now = new Set(appliedFields.map(pathKey));
    const dropped = fromFieldsV1(mine.fieldsV1).filter((p) => !now.has(pathKey(p)));
    const ownedByOthers = (p: FieldPath) => entries.some((e) => e.manager !== manager && fromFieldsV1(e.fieldsV1).some((q) => pathKey(q) === pathKey(p)));
    // Deepest first, so removing a list item does not shift a later path.
    for (const p of dropped.sort((a, b) => b.length - a.length)) if (!ownedByOthers(p)) removeAt(result, p);
  }
  result = structuredClone(result);
  const entry: ManagedEntry = { manager, operation: 'Apply', apiVersion: applied.apiVersion, time: new Date().toISOString(), fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(appliedFields) };
  const others = entries.filter((e) => !(e.manager === manager && e.operation === 'Apply') && Object.keys(e.fieldsV1).length > 0);
  result.metadata.managedFields = [...others, entry];
  return { ok: true, object: result };
}

/** The 409 Status body for conflicts, worded like the API server's. */
export function conflictStatus(conflicts: ApplyConflict[], apiVersion: string): Record<string, unknown> {
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}" using ${apiVersion}`, field: c.field }));
  const list = causes.map((c) => `${c.message}: ${c.field}`).join('\n- ');
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ${conflicts.length === 1 ? list : `\n- ${list}`}`,
    reason: 'Conflict',
    details: { causes },
    code: 409,
  };
}
