import type { ResolvedConfig } from '../config/resolved.js';
import { StageError, type DoctorCheck, type DoctorResult } from '../stages/stage.js';
import { canExec } from '../live/access.js';
import { describeApiError, KubeClient } from './client.js';
import { contextAllowed, loadKubeConfig, type KubeConfigEnv } from './kubeconfig.js';
import { label, parseWorkload, pickContainer, resolveWorkload } from './workload.js';

/**
 * `tightloop doctor` checks for Kubernetes, in dependency order: a kubeconfig with the context,
 * that context on the allow-list, the API answering within a few seconds, and each service's
 * workload present. Later checks report "skipped" reasons instead of repeating earlier failures.
 */

export function createKubeDoctorChecks(where: KubeConfigEnv, timeoutMs = 3000): DoctorCheck[] {
  const load = (config: ResolvedConfig) => loadKubeConfig(config.kubernetes, config.root, where);
  const tryClient = (config: ResolvedConfig): KubeClient | DoctorResult => {
    try {
      return new KubeClient(load(config), timeoutMs);
    } catch (err) {
      return { check: 'kubernetes', status: 'fail', message: (err as Error).message };
    }
  };

  return [
    {
      name: 'kubeconfig',
      async run(config) {
        try {
          const l = load(config);
          return [{ check: 'kubeconfig', status: 'ok', message: `context ${l.context} → ${l.server} (from ${l.files.join(', ')})` }];
        } catch (err) {
          const hint = err instanceof StageError && err.options.hint ? ` ${err.options.hint}` : '';
          return [{ check: 'kubeconfig', status: 'fail', message: `${(err as Error).message}${hint}` }];
        }
      },
    },
    {
      name: 'context allowed',
      async run(config) {
        const c = tryClient(config);
        if (!(c instanceof KubeClient)) return [{ ...c, check: 'context allowed', status: 'warn', message: 'skipped: no usable kubeconfig' }];
        const globs = config.kubernetes.allowContexts;
        return contextAllowed(c.context, globs)
          ? [{ check: 'context allowed', status: 'ok', message: `${c.context} matches kubernetes.allowContexts (${globs.join(', ')})` }]
          : [{ check: 'context allowed', status: 'fail', message: `${c.context} is not in kubernetes.allowContexts (${globs.join(', ') || 'empty'}); deploys will be refused. Add it to allowContexts if it is yours to change.` }];
      },
    },
    {
      name: 'API reachable',
      async run(config, signal) {
        const c = tryClient(config);
        if (!(c instanceof KubeClient)) return [{ ...c, check: 'API reachable', status: 'warn', message: 'skipped: no usable kubeconfig' }];
        const started = Date.now();
        try {
          const v = await c.version.getCode(c.options(signal, {}, timeoutMs));
          return [{ check: 'API reachable', status: 'ok', message: `${c.server} answered ${v.gitVersion} in ${Date.now() - started} ms` }];
        } catch (err) {
          return [{ check: 'API reachable', status: 'fail', message: `${c.server} (context ${c.context}) did not answer within ${timeoutMs / 1000}s: ${describeApiError(err)}` }];
        }
      },
    },
    {
      name: 'workloads',
      async run(config, signal) {
        const c = tryClient(config);
        const services = Object.values(config.services).filter((s) => s.deploy);
        if (!(c instanceof KubeClient)) return [];
        const results: DoctorResult[] = [];
        for (const s of services) {
          const ref = parseWorkload(s.deploy!.workload, s.deploy!.namespace);
          try {
            const w = await resolveWorkload(c, ref, AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]));
            const container = pickContainer(w, s.deploy!.container);
            results.push({ check: 'workloads', service: s.name, status: 'ok', message: `${label(w)} in ${w.namespace}, container ${container}` });
          } catch (err) {
            results.push({ check: 'workloads', service: s.name, status: 'fail', message: (err as Error).message });
          }
        }
        return results;
      },
    },
    {
      name: 'live update',
      async run(config) {
        const c = tryClient(config);
        const services = Object.values(config.services).filter((s) => s.deploy && s.live);
        if (!(c instanceof KubeClient)) return [];
        const results: DoctorResult[] = [];
        for (const s of services) {
          const ns = s.deploy!.namespace;
          try {
            const access = await canExec(c.loaded.kc, ns);
            results.push(
              access.allowed
                ? { check: 'live update', service: s.name, status: 'ok', message: `may exec into pods in ${ns} (pods/exec)` }
                : { check: 'live update', service: s.name, status: 'warn', message: `may not exec into pods in ${ns} (create pods/exec is denied${access.reason ? `: ${access.reason}` : ''}); live updates will fall back to a full rollout` },
            );
          } catch (err) {
            results.push({ check: 'live update', service: s.name, status: 'warn', message: `could not ask whether exec into pods in ${ns} is allowed: ${describeApiError(err)}` });
          }
        }
        return results;
      },
    },
  ];
}
