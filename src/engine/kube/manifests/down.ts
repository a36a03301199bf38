import type { ResolvedConfig, ResolvedService } from '../../config/resolved.js';
import { StageError, type Teardown, type TeardownResult } from '../../stages/stage.js';
import { describeApiError, statusCode, type KubeClient } from '../client.js';
import { contextAllowed, refusedContextError } from '../kubeconfig.js';
import { readAppliedRecord, refKey, removeAppliedRecord, unionRefs, writeAppliedRecord } from './applied-record.js';
import { DynamicClient, type ObjectRef } from './dynamic-client.js';
import { deleteIfOwned, ownerSelector, waitGone } from './ownership.js';
import { projectId } from './deploy-stage.js';

/**
 * `tightloop down`: delete what Tightloop applied for a service — the objects it recorded applying,
 * plus anything carrying its labels in the usual kinds (a lost state file must not leave objects
 * behind) — workloads first and namespaces last, then wait until every one is gone. Objects
 * without Tightloop's labels and field manager are never touched.
 */

/** Kinds searched by label besides the recorded ones; kinds the cluster does not serve are skipped. */
const COMMON_KINDS: [string, string][] = [
  ['apps/v1', 'Deployment'], ['apps/v1', 'StatefulSet'], ['apps/v1', 'DaemonSet'], ['batch/v1', 'Job'], ['batch/v1', 'CronJob'],
  ['v1', 'Pod'], ['v1', 'Service'], ['v1', 'ConfigMap'], ['v1', 'Secret'], ['v1', 'PersistentVolumeClaim'], ['v1', 'ServiceAccount'],
  ['networking.k8s.io/v1', 'Ingress'], ['v1', 'Namespace'],
];

/** Namespaces last, then definitions; everything that lives inside them first. */
const LAST = ['Namespace', 'CustomResourceDefinition', 'PersistentVolumeClaim', 'ServiceAccount', 'Secret', 'ConfigMap'];
const rank = (kind: string) => LAST.indexOf(kind);

export function createTeardown(clientFor: (config: ResolvedConfig) => KubeClient, waitTimeoutMs = 120_000): Teardown {
  return {
    async down(config: ResolvedConfig, service: ResolvedService, signal: AbortSignal, log): Promise<TeardownResult> {
      const client = clientFor(config);
      const allowed = config.kubernetes.allowContexts;
      if (!contextAllowed(client.context, allowed)) throw refusedContextError(client.context, allowed);
      const dyn = new DynamicClient(client.loaded.kc, client.requestTimeoutMs);
      const owner = { service: service.name, project: projectId(config) };
      const record = await readAppliedRecord(config.root, service.name);
      const recorded = record?.context === client.context ? record.objects : [];
      // From here on the last apply is no longer what the cluster has: any engine's next run applies.
      if (record?.applied) await writeAppliedRecord(config.root, service.name, { context: record.context, objects: record.objects });

      const found: ObjectRef[] = [];
      const kinds = unionKinds(recorded, COMMON_KINDS);
      for (const [apiVersion, kind] of kinds) {
        try {
          const { items } = await dyn.listObjects(apiVersion, kind, undefined, { labelSelector: ownerSelector(owner) }, signal);
          for (const o of items) found.push({ apiVersion, kind, name: o.metadata.name, ...(o.metadata.namespace && { namespace: o.metadata.namespace }) });
        } catch (err) {
          // Not served, or no permission to list cluster-wide: the recorded objects still go.
          if ((err as Error).name === 'UnknownKind' || statusCode(err) === 403 || statusCode(err) === 404) continue;
          throw new StageError(`Cannot list ${kind} objects in context ${client.context}: ${describeApiError(err)}.`);
        }
      }
      const targets = unionRefs(recorded, found).sort((a, b) => rank(a.kind) - rank(b.kind));
      const deleted: ObjectRef[] = [];
      const leftAlone: string[] = [];
      for (const ref of targets) {
        let outcome;
        try {
          outcome = await deleteIfOwned(dyn, ref, owner, signal);
        } catch (err) {
          throw new StageError(`Cannot delete ${ref.kind}/${ref.name}: ${describeApiError(err)}.`);
        }
        if (outcome === 'deleted') {
          deleted.push(ref);
          log(`deleting ${ref.kind}/${ref.name}${ref.namespace ? ` in ${ref.namespace}` : ''}`);
        } else if (outcome === 'not-ours') leftAlone.push(`${ref.kind}/${ref.name}`);
      }
      const left = await waitGone(dyn, deleted, signal, waitTimeoutMs);
      if (left.length) {
        await writeAppliedRecord(config.root, service.name, { context: client.context, objects: left });
        throw new StageError(`${left.map((r) => `${r.kind}/${r.name}`).join(', ')} still exist${left.length === 1 ? 's' : ''} ${Math.round(waitTimeoutMs / 1000)} s after deletion.`, {
          hint: 'A finalizer may hold it: kubectl get <kind> <name> -o yaml shows metadata.finalizers.',
        });
      }
      const gone = new Set(deleted.map(refKey));
      const remaining = recorded.filter((r) => !gone.has(refKey(r)) && !leftAlone.includes(`${r.kind}/${r.name}`));
      if (remaining.length === 0) await removeAppliedRecord(config.root, service.name);
      for (const l of leftAlone) log(`${l} has Tightloop's name but was not applied by it: left alone`, 'warn');
      return { service: service.name, deleted: deleted.map((r) => `${r.kind}/${r.name}`), leftAlone };
    },
  };
}

function unionKinds(recorded: ObjectRef[], common: [string, string][]): [string, string][] {
  const out = new Map<string, [string, string]>();
  for (const r of recorded) out.set(`${r.apiVersion}|${r.kind}`, [r.apiVersion, r.kind]);
  for (const c of common) out.set(`${c[0]}|${c[1]}`, c);
  return [...out.values()];
}
