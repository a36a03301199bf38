import type { z } from 'zod';
import { ConfigSchema } from './schema.js';

/**
 * Help for an unknown field in tightloop.yaml: a Tilt, Skaffold or Docker Compose name gets its
 * Tightloop equivalent, a near-miss of a real field gets "did you mean", and a real field in the
 * wrong section says where it belongs. Candidates come from the zod schema itself, so the hints
 * never drift from what the loader accepts.
 */

interface Foreign {
  tool: string;
  /** The Tightloop field (its key, found relative to where the unknown one is), or undefined. */
  field?: string;
  /** What to do instead, when there is no field of that name. */
  advice?: string;
}

const FOREIGN: Record<string, Foreign[]> = {
  resource_deps: [{ tool: 'Tilt', field: 'dependsOn' }],
  depends_on: [{ tool: 'Docker Compose', field: 'dependsOn' }],
  requires: [{ tool: 'Skaffold', field: 'dependsOn' }],
  port_forwards: [{ tool: 'Tilt', field: 'portForwards' }],
  portForward: [{ tool: 'Skaffold', field: 'portForwards' }],
  ports: [{ tool: 'Docker Compose', field: 'portForwards' }],
  trigger_mode: [{ tool: 'Tilt', field: 'trigger', advice: 'trigger: auto | manual' }],
  auto_init: [{ tool: 'Tilt', advice: 'services with trigger: auto run when watching starts; use trigger: manual to wait for an explicit run' }],
  live_update: [{ tool: 'Tilt', advice: 'Tightloop compiles on the host (compile) and ships only the artifacts (stage) in a thin image' }],
  sync: [{ tool: 'Skaffold', advice: 'Tightloop compiles on the host (compile) and ships only the artifacts (stage) in a thin image' }],
  labels: [{ tool: 'Tilt', advice: 'there are no resource labels; remove it' }],
  deps: [{ tool: 'Tilt', field: 'paths', advice: 'watch: { paths: [...] }' }],
  cmd: [{ tool: 'Tilt', field: 'command' }],
  serve_cmd: [{ tool: 'Tilt', advice: 'run long-lived processes in the cluster; tasks are one-shot commands' }],
  working_dir: [{ tool: 'Docker Compose', field: 'cwd' }],
  environment: [{ tool: 'Docker Compose', field: 'env' }],
  build: [{ tool: 'Docker Compose / Skaffold', advice: 'split it into compile (runs on the host) and image (the thin image)' }],
  artifacts: [{ tool: 'Skaffold', field: 'image' }],
  k8s_yaml: [{ tool: 'Tilt', advice: 'apply your manifests once; deploy.workload names the workload Tightloop updates' }],
  k8s_resource: [{ tool: 'Tilt', field: 'workload' }],
  manifests: [{ tool: 'Skaffold', advice: 'apply your manifests once; deploy.workload names the workload Tightloop updates' }],
};

/** Every field of the schema, as its path of keys with `*` for a record's (user-chosen) key. */
const FIELDS: string[][] = [];
collectFields(ConfigSchema, [], FIELDS);

type AnySchema = { _zod: { def: Record<string, unknown> & { type: string } } };

function collectFields(schema: unknown, at: string[], out: string[][]): void {
  const def = (schema as AnySchema)._zod.def;
  switch (def.type) {
    case 'object':
      for (const [key, child] of Object.entries(def.shape as Record<string, z.ZodType>)) {
        out.push([...at, key]);
        collectFields(child, [...at, key], out);
      }
      break;
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
      collectFields(def.innerType, at, out);
      break;
    case 'record':
      collectFields(def.valueType, [...at, '*'], out);
      break;
    case 'array':
      collectFields(def.element, [...at, '*'], out);
      break;
    default:
  }
}

/** The schema's fields below `location` (a zod issue path), as paths relative to it. */
function fieldsBelow(location: readonly PropertyKey[]): string[][] {
  const at = location.map(String);
  return FIELDS.filter((f) => f.length > at.length && at.every((segment, i) => f[i] === '*' || f[i] === segment)).map((f) => f.slice(at.length));
}

/** The message for an unknown `key` in the map at `location`. */
export function unknownFieldMessage(location: readonly PropertyKey[], key: string): string {
  const below = fieldsBelow(location);
  const direct = below.filter((f) => f.length === 1).map((f) => f[0]!);
  /** Where `name` lives relative to here (shortest first), e.g. `deploy.portForwards`. */
  const placeOf = (name: string) => below.filter((f) => f.at(-1) === name && !f.includes('*')).sort((a, b) => a.length - b.length)[0]?.join('.');

  for (const foreign of FOREIGN[key] ?? []) {
    const place = foreign.field && placeOf(foreign.field);
    if (place) return `unknown field "${key}": "${key}" is ${foreign.tool}'s; Tightloop calls it "${place}" (did you mean "${place}"?)`;
    if (foreign.advice) return `unknown field "${key}": "${key}" is ${foreign.tool}'s; in Tightloop: ${foreign.advice}`;
  }
  const close = nearest(key, direct);
  if (close) return `unknown field "${key}" (did you mean "${close}"?)`;
  // A real field one level off (`readyTimeout` directly under a service).
  const nested = below.filter((f) => f.length > 1 && !f.includes('*')).map((f) => f.join('.'));
  const deeper = nested.find((p) => normalise(p.split('.').at(-1)!) === normalise(key)) ?? nearest(key, nested, (p) => p.split('.').at(-1)!);
  if (deeper) return `unknown field "${key}" (did you mean "${deeper}"?)`;
  return `unknown field "${key}"`;
}

/** `depends_on`, `DependsOn` and `dependsOn` are the same name. */
function normalise(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/** The candidate within a small edit distance of `key` (ignoring case and `_`/`-`), closest first. */
function nearest(key: string, candidates: string[], nameOf: (c: string) => string = (c) => c): string | undefined {
  const wanted = normalise(key);
  const limit = wanted.length <= 4 ? 1 : 2;
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, normalise(nameOf(candidate)));
    if (distance <= limit && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
