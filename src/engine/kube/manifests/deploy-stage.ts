import type { ResolvedConfig } from '../../config/resolved.js';
import { sha256 } from '../../hash.js';
import { StageError, type ManifestWorkload, type Stage, type StageContext } from '../../stages/stage.js';
import type { KubeClient } from '../client.js';
import { contextAllowed, refusedContextError } from '../kubeconfig.js';
import { selectorString } from '../workload.js';
import { applyObjects, type AppliedObject } from './apply.js';
import { readAppliedRecord, refKey, unionRefs, writeAppliedRecord } from './applied-record.js';
import { DynamicClient, type ObjectRef } from './dynamic-client.js';
import { deleteIfOwned, type Owner } from './ownership.js';
import { DuplicateObject, podSpecOf, prepareObjects, type Prepared } from './prepare.js';
import { loadManifests, objectLabel } from './source.js';

/**
 * The deploy stage for a service (or resource) with manifests: load and render them, inject the
 * pushed image, and — only when the result differs from the last successful apply — server-side
 * apply it, then prune what the manifests no longer contain. The allow-list is checked before
 * anything else, including rendering.
 */

export interface ManifestDeployShared {
  client(ctx: StageContext): KubeClient;
}

/** Identifies this project's objects in a shared cluster (label value: 12 hex characters). */
export const projectId = (config: ResolvedConfig) => sha256(config.file).slice(0, 12);

export const ownerOf = (ctx: { config: ResolvedConfig; service: { name: string } }): Owner => ({ service: ctx.service.name, project: projectId(ctx.config) });

export async function prepareFor(ctx: StageContext, imageRef: string | undefined): Promise<Prepared> {
  const d = ctx.service.deploy!;
  const loaded = await loadManifests(ctx.config, d.manifests!, ctx.signal, ctx.log);
  try {
    return prepareObjects(loaded, {
      service: ctx.service.name,
      project: projectId(ctx.config),
      defaultNamespace: d.namespace,
      ...(ctx.service.image && imageRef && { image: { repository: ctx.service.image.repository, ref: imageRef } }),
      imageFields: d.manifests!.imageFields,
    });
  } catch (err) {
    if (err instanceof DuplicateObject) throw new StageError(err.message, { hint: 'Each object may appear once across deploy.manifests and the render output.' });
    throw err;
  }
}

export function createManifestDeployStage(shared: ManifestDeployShared): Stage {
  return {
    name: 'deploy',
    async run(ctx) {
      const d = ctx.service.deploy!;
      const client = shared.client(ctx);
      const allowed = ctx.config.kubernetes.allowContexts;
      if (!contextAllowed(client.context, allowed)) throw refusedContextError(client.context, allowed);

      const imageRef = ctx.outputs.deployRef ?? ctx.lastSuccess?.deployRef;
      if (ctx.service.image && !imageRef) {
        throw new StageError('The manifests need the built image, but no image was built or pushed for this run.', { hint: 'Check the image and push stages above.' });
      }
      const prepared = await prepareFor(ctx, imageRef);
      if (prepared.unmatchedImage) {
        ctx.log(`no container in the manifests names image ${prepared.unmatchedImage}: the built image is not injected anywhere (use that repository in an image: field, or deploy.imageFields for custom resources)`, 'warn');
      }
      const last = ctx.lastSuccess?.manifests;
      if (last && last.hash === prepared.hash && last.context === client.context) {
        const detail = `${prepared.objects.length} object${prepared.objects.length === 1 ? '' : 's'} identical to the last apply (${prepared.hash.slice(0, 12)}): nothing applied`;
        return { status: 'skipped', detail, outputs: { manifests: { hash: prepared.hash, applied: false, context: client.context, workloads: last.workloads } } };
      }

      const dyn = new DynamicClient(client.loaded.kc, client.requestTimeoutMs);
      const owner = ownerOf(ctx);
      const previous = await readAppliedRecord(ctx.config.root, ctx.service.name);
      const previousRefs = previous?.context === client.context ? previous.objects : [];
      const appliedRefs: ObjectRef[] = [];
      let applied: AppliedObject[];
      try {
        applied = await applyObjects(dyn, prepared.objects, {
          defaultNamespace: d.namespace,
          signal: ctx.signal,
          context: client.context,
          server: client.server,
          log: (text) => ctx.log(text),
          onApplied: (ref) => appliedRefs.push(ref),
        });
      } finally {
        // Whatever got applied must be found again by prune and `down`, even after a failure.
        await writeAppliedRecord(ctx.config.root, ctx.service.name, { context: client.context, objects: unionRefs(appliedRefs, previousRefs) }).catch(() => {});
      }

      const current = new Set(appliedRefs.map(refKey));
      const stale = previousRefs.filter((r) => !current.has(refKey(r)));
      const kept: ObjectRef[] = [];
      const pruned: string[] = [];
      // Reverse apply order: workloads before the namespaces they live in.
      for (const ref of [...stale].reverse()) {
        try {
          const outcome = await deleteIfOwned(dyn, ref, owner, ctx.signal);
          if (outcome === 'deleted') pruned.push(`${ref.kind}/${ref.name}`);
          if (outcome === 'not-ours') ctx.log(`${ref.kind}/${ref.name} is no longer in the manifests but was not applied by Tightloop for ${owner.service}: left alone`, 'warn');
        } catch (err) {
          kept.push(ref);
          ctx.log(`could not prune ${ref.kind}/${ref.name}: ${(err as Error).message}`, 'warn');
        }
      }
      await writeAppliedRecord(ctx.config.root, ctx.service.name, { context: client.context, objects: unionRefs(appliedRefs, kept) });

      const liveWorkloads = workloadsOf(prepared, d.namespace, applied, imageRef);
      const summary = `applied ${applied.length} object${applied.length === 1 ? '' : 's'} (${applied.map((a) => objectLabel(a.prepared.object)).join(', ')})`;
      ctx.log(`${summary} with server-side apply, context ${client.context}`);
      if (pruned.length) ctx.log(`pruned ${pruned.join(', ')}`);
      const injected = prepared.objects.flatMap((o) => o.injected.map(() => objectLabel(o.object)));
      const detail = [summary, injected.length ? `image injected into ${[...new Set(injected)].join(', ')}` : undefined, pruned.length ? `pruned ${pruned.join(', ')}` : undefined].filter(Boolean).join('; ');
      return { detail, outputs: { manifests: { hash: prepared.hash, applied: true, context: client.context, workloads: liveWorkloads } } };
    },
  };
}

function workloadsOf(prepared: Prepared, defaultNamespace: string, applied: AppliedObject[], imageRef: string | undefined): ManifestWorkload[] {
  return prepared.workloads.map((p) => {
    const live = applied.find((a) => a.prepared === p)?.live;
    const pod = podSpecOf(p.object);
    const injectedContainer = p.injected.map((i) => /containers\[name="([^"]+)"\]/.exec(i.field)?.[1]).find(Boolean);
    const selector = (live ?? p.object) as { spec?: { selector?: { matchLabels?: Record<string, string> } } };
    return {
      apiVersion: p.object.apiVersion,
      kind: p.object.kind,
      name: p.object.metadata.name,
      namespace: (live?.metadata.namespace as string | undefined) ?? p.object.metadata.namespace ?? defaultNamespace,
      generation: Number(live?.metadata.generation ?? 0),
      ...(selector.spec?.selector && { selector: selectorString(selector.spec.selector) }),
      ...((injectedContainer ?? pod?.spec.containers?.[0]?.name) && { container: injectedContainer ?? pod!.spec.containers![0]!.name }),
      ...(injectedContainer && imageRef && { image: imageRef }),
    };
  });
}
