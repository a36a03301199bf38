import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';

/**
 * The fake API server's "etcd": objects by resource, one global resourceVersion counter that every
 * write bumps (like etcd's revision), and a history of changes so watches can resume from a
 * resourceVersion — until `compact()` drops it, after which resuming gets 410 Gone.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are open-ended JSON here */
export interface KObj {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    generation?: number;
    creationTimestamp: string;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    [k: string]: any;
  };
  spec?: any;
  status?: any;
  [k: string]: any;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Built-in resources by name; a custom resource's plural is any other string. */
export type Resource = 'jobs' | 'pods' | 'deployments' | 'statefulsets' | 'daemonsets' | 'events' | 'configmaps' | 'services' | 'nodes' | 'namespaces' | 'customresourcedefinitions' | (string & {});
export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  resource: Resource;
  type: ChangeType;
  rv: number;
  object: KObj;
}

export class AlreadyExists extends Error {}
export class NotFound extends Error {}

export class Store extends EventEmitter<{ change: [Change] }> {
  private rv = 1000;
  /** Changes at or below this resourceVersion are forgotten (etcd compaction). */
  private compactedRv = 0;
  private readonly objects = new Map<Resource, Map<string, KObj>>();
  private history: Change[] = [];

  get resourceVersion(): number {
    return this.rv;
  }

  get(resource: Resource, namespace: string | undefined, name: string): KObj | undefined {
    const obj = this.table(resource).get(key(namespace, name));
    return obj && structuredClone(obj);
  }

  list(resource: Resource, namespace?: string): KObj[] {
    return [...this.table(resource).values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map((o) => structuredClone(o));
  }

  create(resource: Resource, obj: KObj | Omit<KObj, 'metadata'> & { metadata: Partial<KObj['metadata']> & { name: string } }): KObj {
    const table = this.table(resource);
    const k = key(obj.metadata.namespace, obj.metadata.name);
    if (table.has(k)) throw new AlreadyExists(obj.metadata.name);
    const stored = structuredClone(obj) as KObj;
    stored.metadata.uid = randomUUID();
    stored.metadata.creationTimestamp = new Date().toISOString();
    stored.metadata.resourceVersion = String(++this.rv);
    table.set(k, stored);
    this.record(resource, 'ADDED', stored);
    return structuredClone(stored);
  }

  update(resource: Resource, obj: KObj): KObj {
    const table = this.table(resource);
    const k = key(obj.metadata.namespace, obj.metadata.name);
    const existing = table.get(k);
    if (!existing) throw new NotFound(obj.metadata.name);
    const stored = structuredClone(obj);
    stored.metadata.uid = existing.metadata.uid;
    stored.metadata.creationTimestamp = existing.metadata.creationTimestamp;
    stored.metadata.resourceVersion = String(++this.rv);
    table.set(k, stored);
    this.record(resource, 'MODIFIED', stored);
    return structuredClone(stored);
  }

  remove(resource: Resource, namespace: string | undefined, name: string): KObj | undefined {
    const table = this.table(resource);
    const k = key(namespace, name);
    const existing = table.get(k);
    if (!existing) return undefined;
    table.delete(k);
    // A DELETED event carries the object's last state at a new resourceVersion.
    existing.metadata.resourceVersion = String(++this.rv);
    this.record(resource, 'DELETED', existing);
    return structuredClone(existing);
  }

  /** Changes after `rv` for a resource, or 'expired' when that history was compacted away. */
  changesSince(resource: Resource, rv: number): Change[] | 'expired' {
    if (rv < this.compactedRv) return 'expired';
    return this.history.filter((c) => c.resource === resource && c.rv > rv);
  }

  /** Forget all history up to now: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  private record(resource: Resource, type: ChangeType, object: KObj): void {
    const change: Change = { resource, type, rv: this.rv, object: structuredClone(object) };
    this.history.push(change);
    this.emit('change', change);
  }

  private table(resource: Resource): Map<string, KObj> {
    let t = this.objects.get(resource);
    if (!t) this.objects.set(resource, (t = new Map()));
    return t;
  }
}

const key = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;
