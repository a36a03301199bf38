import { sha256 } from '../../hash.js';
import { objectLabel, type KubeObject, type SourcedObject } from './source.js';

/**
 * From loaded objects to what is applied: the built image injected, Tightloop's labels added, a
 * stable apply order, and a hash of the result (equal hash → nothing to apply).
 */

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const SERVICE_LABEL = 'tightloop.dev/service';
export const PROJECT_LABEL = 'tightloop.dev/project';
export const FIELD_MANAGER = 'tightloop';

/** Kinds whose readiness Tightloop waits for. */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'Pod'] as const;
export type WorkloadKindName = (typeof WORKLOAD_KINDS)[number];

export interface Injection {
  /** Dotted path of the field that received the image, e.g. spec.template.spec.containers[name="api"].image */
  field: string;
  /** The server-side-apply field path (for telling Tightloop's own fields from others' on conflict). */
  fieldPath: string;
  from: string;
}

export interface PreparedObject extends SourcedObject {
  injected: Injection[];
}

export interface Prepared {
  objects: PreparedObject[];
  /** sha256 of the objects as applied (after injection and labels) and the default namespace. */
  hash: string;
  /** The objects whose readiness is waited for. */
  workloads: PreparedObject[];
  /** Set when an image was to be injected but no container named the repository. */
  unmatchedImage?: string;
}

export interface PrepareOptions {
  service: string;
  project: string;
  defaultNamespace: string;
  /** The image repository built for this service, and the reference to inject (repo@digest). */
  image?: { repository: string; ref: string };
  imageFields: { kind: string; path: string }[];
}

export function prepareObjects(loaded: SourcedObject[], opts: PrepareOptions): Prepared {
  const seen = new Map<string, SourcedObject>();
  const objects: PreparedObject[] = loaded.map((s) => {
    const object = structuredClone(s.object);
    const key = `${object.apiVersion.split('/')[0]}|${object.kind}|${object.metadata.namespace ?? ''}|${object.metadata.name}`;
    const twin = seen.get(key);
    if (twin) throw new DuplicateObject(`${objectLabel(object)} is defined twice: ${describe(twin)} and ${describe(s)}.`);
    seen.set(key, s);
    object.metadata.labels = { ...object.metadata.labels, [MANAGED_BY]: 'tightloop', [SERVICE_LABEL]: opts.service, [PROJECT_LABEL]: opts.project };
    const injected = opts.image ? inject(object, opts.image, opts.imageFields) : [];
    return { object, source: s.source, injected };
  });
  objects.sort((a, b) => kindRank(a.object.kind) - kindRank(b.object.kind));
  const receivers = objects.filter((o) => o.injected.length > 0);
  const workloads = (receivers.length ? receivers : objects).filter((o) => isWorkloadKind(o.object.kind));
  const hash = sha256(JSON.stringify([opts.defaultNamespace, objects.map((o) => o.object)]));
  return { objects, hash, workloads, ...(opts.image && receivers.length === 0 && { unmatchedImage: opts.image.repository }) };
}

export class DuplicateObject extends Error {}

const describe = (s: SourcedObject) => `${s.source.file} document ${s.source.document}`;

export function isWorkloadKind(kind: string): kind is WorkloadKindName {
  return (WORKLOAD_KINDS as readonly string[]).includes(kind);
}

/** Namespaces and definitions first (what others live in), then config and services, then the rest. */
const ORDER = ['Namespace', 'CustomResourceDefinition', 'ResourceQuota', 'LimitRange', 'PriorityClass', 'StorageClass', 'PersistentVolume', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Secret', 'ConfigMap', 'PersistentVolumeClaim', 'Service'];
function kindRank(kind: string): number {
  const i = ORDER.indexOf(kind);
  return i === -1 ? ORDER.length : i;
}

/** The repository part of an image reference: no digest, no tag. */
export function repositoryOf(image: string): string {
  const noDigest = image.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/** docker.io/library/x, docker.io/x and x are the same repository, as for docker and the kubelet. */
function normalise(repo: string): string {
  let r = repo;
  if (r.startsWith('docker.io/')) r = r.slice('docker.io/'.length);
  if (r.startsWith('library/')) r = r.slice('library/'.length);
  return r;
}

/**
 * True when a manifest image names the built repository: the same repository, or the same name
 * without the registry host (`image: hello` in a manifest for repository 127.0.0.1:5000/hello),
 * as Tilt matches image names.
 */
export function namesRepository(image: string, repository: string): boolean {
  const repo = normalise(repositoryOf(image));
  const built = normalise(repository);
  if (repo === built) return true;
  const first = built.split('/')[0]!;
  const hasHost = built.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasHost && repo === built.slice(first.length + 1);
}

interface PodSpecLike {
  containers?: { name?: string; image?: string }[];
  initContainers?: { name?: string; image?: string }[];
}

/** The pod spec inside an object, and its path, for every kind that has one. */
export function podSpecOf(object: KubeObject): { spec: PodSpecLike; path: string[] } | undefined {
  const o = object as { spec?: { template?: { spec?: PodSpecLike }; jobTemplate?: { spec?: { template?: { spec?: PodSpecLike } } } } & PodSpecLike };
  if (object.kind === 'Pod' && o.spec) return { spec: o.spec, path: ['spec'] };
  if (object.kind === 'CronJob' && o.spec?.jobTemplate?.spec?.template?.spec) return { spec: o.spec.jobTemplate.spec.template.spec, path: ['spec', 'jobTemplate', 'spec', 'template', 'spec'] };
  if (o.spec?.template?.spec && (o.spec.template.spec.containers || o.spec.template.spec.initContainers)) return { spec: o.spec.template.spec, path: ['spec', 'template', 'spec'] };
  return undefined;
}

function inject(object: KubeObject, image: { repository: string; ref: string }, imageFields: PrepareOptions['imageFields']): Injection[] {
  const done: Injection[] = [];
  const pod = podSpecOf(object);
  if (pod) {
    for (const list of ['initContainers', 'containers'] as const) {
      for (const c of pod.spec[list] ?? []) {
        if (typeof c.image === 'string' && namesRepository(c.image, image.repository)) {
          const at = `${pod.path.join('.')}.${list}[name="${c.name}"].image`;
          done.push({ field: at, fieldPath: `.${at}`, from: c.image });
          c.image = image.ref;
        }
      }
    }
  }
  for (const f of imageFields) {
    if (f.kind !== object.kind) continue;
    setAll(object, f.path.split('.'), (current, at) => {
      if (typeof current === 'string' && namesRepository(current, image.repository)) {
        done.push({ field: at, fieldPath: `.${at}`, from: current });
        return image.ref;
      }
      return current;
    });
  }
  return done;
}

/** Walk a dotted path (`[]` = every list item) and replace the leaves `update` changes. */
function setAll(node: unknown, parts: string[], update: (value: unknown, at: string) => unknown, prefix = ''): void {
  const [head, ...rest] = parts;
  if (!head || node === null || typeof node !== 'object') return;
  const object = node as Record<string, unknown>;
  const each = head.endsWith('[]');
  const key = each ? head.slice(0, -2) : head;
  const at = prefix ? `${prefix}.${key}` : key;
  const value = object[key];
  if (each) {
    if (!Array.isArray(value)) return;
    value.forEach((item, i) => {
      if (rest.length === 0) value[i] = update(item, `${at}[${i}]`);
      else setAll(item, rest, update, `${at}[${i}]`);
    });
  } else if (rest.length === 0) {
    if (key in object) object[key] = update(value, at);
  } else setAll(value, rest, update, at);
}
