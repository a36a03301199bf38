import type { KObj } from './store.js';

/**
 * The part of the API server's validation a dev loop runs into: a container whose resource
 * requests exceed its limits. A real server answers 422 Invalid with a Status whose
 * details.causes[].field names the field, e.g.
 *   Deployment.apps "hello" is invalid: spec.template.spec.containers[0].resources.requests:
 *   Invalid value: "64Ti": must be less than or equal to memory limit of 32Mi
 */
export interface Invalid {
  message: string;
  causes: { reason: string; message: string; field: string }[];
}

export function validate(kind: string, group: string, obj: KObj): Invalid | undefined {
  const spec = kind === 'Pod' ? obj.spec : obj.spec?.template?.spec;
  const prefix = kind === 'Pod' ? 'spec' : 'spec.template.spec';
  const causes: Invalid['causes'] = [];
  for (const list of ['initContainers', 'containers'] as const) {
    (spec?.[list] as { resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }[] | undefined)?.forEach((c, i) => {
      for (const [resource, request] of Object.entries(c.resources?.requests ?? {})) {
        const limit = c.resources?.limits?.[resource];
        if (limit === undefined || quantity(String(request)) <= quantity(String(limit))) continue;
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${request}": must be less than or equal to ${resource} limit of ${limit}`,
          field: `${prefix}.${list}[${i}].resources.requests`,
        });
      }
    });
  }
  if (causes.length === 0) return undefined;
  const qualified = group ? `${kind}.${group}` : kind;
  return { message: `${qualified} "${obj.metadata.name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, causes };
}

const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

/** A Kubernetes resource quantity ("500m", "64Mi", "1.5G", "1e3") as a number. */
export function quantity(text: string): number {
  const match = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.exec(text.trim());
  if (!match) return NaN;
  return Number(match[1]) * SUFFIX[match[2] ?? '']!;
}
