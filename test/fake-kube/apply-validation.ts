import type { KObj } from './store.js';

/**
 * What the API server's validation rejects (HTTP 422, a cause per field) in the paths manifests
 * use: resource requests above limits, and a changed selector of a workload (immutable).
 */

export interface Invalid {
  field: string;
  message: string;
}

const POD_SPEC_AT: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
};
const IMMUTABLE_SELECTOR = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);

export function validateObject(kind: string, next: KObj, live: KObj | undefined): Invalid[] {
  const problems: Invalid[] = [];
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(next.metadata.name)) {
    problems.push({ field: 'metadata.name', message: `Invalid value: "${next.metadata.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` });
  }
  const at = POD_SPEC_AT[kind];
  if (at) {
    const spec = at.reduce<any>((o, k) => o?.[k], next); // eslint-disable-line @typescript-eslint/no-explicit-any
    const prefix = at.join('.');
    for (const list of ['initContainers', 'containers'] as const) {
      (spec?.[list] ?? []).forEach((c: { image?: string; resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }, i: number) => {
        if (!c.image) problems.push({ field: `${prefix}.${list}[${i}].image`, message: 'Required value' });
        const req = c.resources?.requests ?? {};
        const lim = c.resources?.limits ?? {};
        for (const [res, value] of Object.entries(req)) {
          if (lim[res] !== undefined && quantity(value) > quantity(lim[res]!)) {
            problems.push({ field: `${prefix}.${list}[${i}].resources.requests`, message: `Invalid value: "${value}": must be less than or equal to ${res} limit of ${lim[res]}` });
          }
        }
      });
    }
  }
  if (live && IMMUTABLE_SELECTOR.has(kind) && JSON.stringify(live.spec?.selector) !== JSON.stringify(next.spec?.selector)) {
    problems.push({ field: 'spec.selector', message: `Invalid value: ${JSON.stringify(next.spec?.selector ?? null)}: field is immutable` });
  }
  return problems;
}

const SUFFIX: Record<string, number> = { m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** A Kubernetes quantity (100m, 32Mi, 1.5, 2G) as a number. */
export function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q.trim());
  if (!m) return NaN;
  return Number(m[1]) * SUFFIX[m[2] ?? '']!;
}
