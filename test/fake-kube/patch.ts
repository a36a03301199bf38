/**
 * The three PATCH flavours of the API server, applied to plain JSON:
 *  - JSON patch (RFC 6902), `application/json-patch+json`
 *  - JSON merge patch (RFC 7386), `application/merge-patch+json` — lists are replaced wholesale
 *  - strategic merge patch, `application/strategic-merge-patch+json` — lists with a patch merge key
 *    (containers by name, env by name, ports by containerPort, …) are merged element by element;
 *    `$patch: delete|replace` is applied, `$setElementOrder` / `$retainKeys` are accepted and ignored
 *    (the engine never sends them).
 * A patch that cannot be applied (including a failed `test`) throws a PatchError; the server answers 422.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export class PatchError extends Error {
  readonly code = 422;
}

const clone = <T>(v: T): T => structuredClone(v);
const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

// ---------- RFC 6902 JSON patch ----------

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

export function applyJsonPatch(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new PatchError('json patch must be an array of operations');
  let root = clone(doc) as Json;
  for (const raw of patch as (Operation | null)[]) {
    if (!raw || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw new PatchError(`invalid operation: ${JSON.stringify(raw)}`);
    switch (raw.op) {
      case 'add':
        root = addAt(root, raw.path, requireValue(raw));
        break;
      case 'remove':
        root = removeAt(root, raw.path).root;
        break;
      case 'replace':
        root = removeAt(root, raw.path).root;
        root = addAt(root, raw.path, requireValue(raw));
        break;
      case 'move': {
        const from = requireFrom(raw);
        if (raw.path.startsWith(from + '/')) throw new PatchError(`cannot move ${from} into its own child ${raw.path}`);
        const removed = removeAt(root, from);
        root = addAt(removed.root, raw.path, removed.value);
        break;
      }
      case 'copy':
        root = addAt(root, raw.path, clone(getAt(root, requireFrom(raw))));
        break;
      case 'test':
        if (JSON.stringify(canonical(getAt(root, raw.path))) !== JSON.stringify(canonical(requireValue(raw)))) {
          throw new PatchError(`testing value ${raw.path} failed`);
        }
        break;
      default:
        throw new PatchError(`unknown json patch operation "${raw.op}"`);
    }
  }
  return root;
}

function requireValue(op: Operation): Json {
  if (!('value' in op)) throw new PatchError(`operation "${op.op}" at ${op.path} needs a value`);
  return clone(op.value as Json);
}
function requireFrom(op: Operation): string {
  if (typeof op.from !== 'string') throw new PatchError(`operation "${op.op}" at ${op.path} needs "from"`);
  return op.from;
}

/** Object keys sorted so `test` compares values, not key order. */
function canonical(v: Json): Json {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k]!)]));
  return v;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`invalid JSON pointer "${pointer}"`);
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(arr: Json[], token: string, forAdd: boolean): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new PatchError(`invalid array index "${token}"`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`array index ${i} out of range`);
  return i;
}

function parentOf(root: Json, tokens: string[]): Json {
  let cur = root;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false)]!;
    else if (isObject(cur) && t in cur) cur = cur[t]!;
    else throw new PatchError(`path not found: /${tokens.join('/')}`);
  }
  return cur;
}

function getAt(root: Json, pointer: string): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return root;
  const parent = parentOf(root, tokens);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false)]!;
  if (isObject(parent) && last in parent) return parent[last]!;
  throw new PatchError(`path not found: ${pointer}`);
}

function addAt(root: Json, pointer: string, value: Json): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const parent = parentOf(root, tokens);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true), 0, value);
  else if (isObject(parent)) parent[last] = value;
  else throw new PatchError(`cannot add to a scalar at ${pointer}`);
  return root;
}

function removeAt(root: Json, pointer: string): { root: Json; value: Json } {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new PatchError('cannot remove the whole document');
  const parent = parentOf(root, tokens);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const [value] = parent.splice(arrayIndex(parent, last, false), 1);
    return { root, value: value! };
  }
  if (isObject(parent) && last in parent) {
    const value = parent[last]!;
    delete parent[last];
    return { root, value };
  }
  throw new PatchError(`path not found: ${pointer}`);
}

// ---------- RFC 7386 merge patch ----------

export function applyMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isObject(patch as Json)) return clone(patch);
  const target: JsonObject = isObject(doc as Json) ? clone(doc as JsonObject) : {};
  for (const [k, v] of Object.entries(patch as JsonObject)) {
    if (v === null) delete target[k];
    else target[k] = applyMergePatch(target[k], v) as Json;
  }
  return target;
}

// ---------- strategic merge patch ----------

/**
 * Patch merge keys from the Kubernetes OpenAPI (`x-kubernetes-patch-merge-key`) for the fields the
 * fake serves. Keyed by field name: within workloads and pods these names are unambiguous.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  conditions: 'type',
};

export function applyStrategicMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isObject(patch as Json)) throw new PatchError('strategic merge patch must be a JSON object');
  return mergeObject(isObject(doc as Json) ? clone(doc as JsonObject) : {}, patch as JsonObject);
}

function mergeObject(target: JsonObject, patch: JsonObject): JsonObject | undefined {
  const directive = patch['$patch'];
  if (directive === 'delete') return undefined;
  if (directive === 'replace') return stripDirectives(patch) as JsonObject;
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/') || key.startsWith('$deleteFromPrimitiveList/')) {
      continue;
    }
    if (value === null) {
      delete target[key];
    } else if (isObject(value)) {
      const merged = mergeObject(isObject(target[key]) ? (target[key] as JsonObject) : {}, value);
      if (merged === undefined) delete target[key];
      else target[key] = merged;
    } else if (Array.isArray(value) && MERGE_KEYS[key] && Array.isArray(target[key])) {
      target[key] = mergeList(target[key] as Json[], value, MERGE_KEYS[key]);
    } else {
      target[key] = stripDirectives(value);
    }
  }
  // `$deleteFromPrimitiveList/finalizers: [x]` removes values from a primitive list.
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$deleteFromPrimitiveList/') && Array.isArray(value)) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const list = target[field];
      if (Array.isArray(list)) target[field] = list.filter((v) => !value.includes(v));
    }
  }
  return target;
}

function mergeList(target: Json[], patch: Json[], mergeKey: string): Json[] {
  if (patch.some((p) => isObject(p) && p['$patch'] === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p['$patch'] === 'replace')).map(stripDirectives);
  }
  const out = target.map((t) => clone(t));
  for (const item of patch) {
    if (!isObject(item)) {
      out.push(item);
      continue;
    }
    const key = item[mergeKey];
    if (key === undefined) throw new PatchError(`map in list must have the merge key "${mergeKey}"`);
    const index = out.findIndex((t) => isObject(t) && t[mergeKey] === key);
    if (item['$patch'] === 'delete') {
      if (index >= 0) out.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const merged = mergeObject(out[index] as JsonObject, item);
      if (merged === undefined) out.splice(index, 1);
      else out[index] = merged;
    } else {
      out.push(stripDirectives(item));
    }
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, val] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(val);
  return out;
}
