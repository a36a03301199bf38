import type { ResolvedConfig } from '../../config/resolved.js';
import type { DoctorCheck, DoctorResult } from '../../stages/stage.js';
import type { KubeClient } from '../client.js';
import { DynamicClient } from './dynamic-client.js';
import { prepareObjects } from './prepare.js';
import { loadManifests, objectLabel, where } from './source.js';
import { projectId } from './deploy-stage.js';

/**
 * Doctor for manifests: they load (and render), every kind is served by the cluster, and the
 * built image is injected somewhere — an image that matches no container is a warning here, long
 * before a deploy that silently runs the old image.
 */
export function createManifestDoctorChecks(clientFor: (config: ResolvedConfig) => KubeClient): DoctorCheck[] {
  return [
    {
      name: 'manifests',
      async run(config, signal) {
        const results: DoctorResult[] = [];
        let dyn: DynamicClient | undefined;
        try {
          const client = clientFor(config);
          dyn = new DynamicClient(client.loaded.kc, 3000);
        } catch {
          // No usable kubeconfig: the cluster check reports it; kinds are not checked.
        }
        for (const s of Object.values(config.services)) {
          const m = s.deploy?.manifests;
          if (!m) continue;
          try {
            const loaded = await loadManifests(config, m, signal, () => {});
            const prepared = prepareObjects(loaded, {
              service: s.name,
              project: projectId(config),
              defaultNamespace: s.deploy!.namespace,
              ...(s.image && { image: { repository: s.image.repository, ref: `${s.image.repository}@sha256:${'0'.repeat(64)}` } }),
              imageFields: m.imageFields,
            });
            const unknown: string[] = [];
            for (const o of prepared.objects) {
              if (!dyn) break;
              const served = await dyn.resourceFor(o.object.apiVersion, o.object.kind).catch(() => 'unreachable' as const);
              if (served === 'unreachable') break;
              if (!served && !prepared.objects.some((d) => d.object.kind === 'CustomResourceDefinition')) unknown.push(`${where(o.source)}: ${objectLabel(o.object)} (${o.object.apiVersion})`);
            }
            const workloads = prepared.workloads.map((w) => objectLabel(w.object));
            results.push({ check: 'manifests', service: s.name, status: 'ok', message: `${prepared.objects.length} objects; waits for ${workloads.join(', ') || 'no workload'}` });
            if (prepared.unmatchedImage) {
              results.push({ check: 'manifests', service: s.name, status: 'warn', message: `no container (or deploy.imageFields entry) names image ${prepared.unmatchedImage}: the built image would not be deployed` });
            }
            if (unknown.length) results.push({ check: 'manifests', service: s.name, status: 'fail', message: `unknown kinds: ${unknown.join('; ')}` });
          } catch (err) {
            results.push({ check: 'manifests', service: s.name, status: 'fail', message: (err as Error).message });
          }
        }
        return results;
      },
    },
  ];
}
