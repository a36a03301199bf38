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
import { applyKey, type ClusterTarget } from './apply-key.js';
import { DuplicateObject, podSpecOf, prepareObjects, type PrepareOptions, type Prepared } from './prepare.js';
import { RenderCache } from './render-cache.js';
import { objectLabel, parseManifestTexts, readManifestTexts, type ManifestTexts } from './source.js';

/**
 * The deploy stage for a service (or resource) with manifests: load and render them, inject the
 * pushed image, and — only when the result differs from the last successful apply — server-side
 * apply it, then prune what the manifests no longer contain. The allow-list is checked before
 * anything else, including rendering. A no-op run decides from the apply key (apply-key.ts)
 * before parsing anything; `--force` (ctx.force) always applies.
 */

export interface ManifestDeployShared {
  client(ctx: StageContext): KubeClient;
}

/** Identifies this project's objects in a shared cluster (label value: 12 hex characters). */
export const projectId = (config: ResolvedConfig) => sha256(config.file).slice(0, 12);

export const ownerOf = (ctx: { config: ResolvedConfig; service: { name: string } }): Owner => ({ service: ctx.service.name, project: projectId(ctx.config) });

function prepareOptionsFor(ctx: StageContext, imageRef: string | undefined): PrepareOptions {
  const d = ctx.service.deploy!;
  return {
    service: ctx.service.name,
    project: projectId(ctx.config),
    defaultNamespace: d.namespace,
    ...(ctx.service.image && imageRef && { image: { repository: ctx.service.image.repository, ref: imageRef } }),
    imageFields: d.manifests!.imageFields,
  };
}

function prepare(texts: ManifestTexts, options: PrepareOptions): Prepared {
  try {
    return prepareObjects(parseManifestTexts(texts), options);
  } catch (err) {
    if (err instanceof DuplicateObject) throw new StageError(err.message, { hint: 'Each object may appear once across deploy.manifests and the render output.' });
    throw err;
  }
}

export function createManifestDeployStage(shared: ManifestDeployShared): Stage {
  const renders = new RenderCache();
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
      const force = ctx.force === true;
      const target: ClusterTarget = { context: client.context, server: client.server };
      const options = prepareOptionsFor(ctx, imageRef);
      const texts = await readManifestTexts(ctx.config, d.manifests!, ctx.signal, ctx.log, renders.reuse(ctx.service.name, force));
      const key = applyKey(texts, options, target);

      // The last complete apply, if it went to this cluster and is the one the last successful run
      // handed to ready (a run that failed after applying, or a `down` from any process, clears it).
      const record = await readAppliedRecord(ctx.config.root, ctx.service.name);
      const last = ctx.lastSuccess?.manifests;
      const lastApply =
        !force && last && record?.applied && record.context === target.context && record.applied.server === target.server && last.context === target.context && record.applied.hash === last.hash
          ? record.applied
          : undefined;
      const unchanged = (how: string) => ({
        status: 'skipped' as const,
        detail: `${how} the last apply to ${target.context} (${last!.hash.slice(0, 12)}): nothing applied`,
        outputs: { manifests: { hash: last!.hash, applied: false, context: target.context, workloads: last!.workloads } },
      });
      // Same bytes, same image, same cluster: nothing parsed, nothing sent.
      if (lastApply?.key === key) return unchanged('manifests unchanged since');

      const prepared = prepare(texts, options);
      if (prepared.unmatchedImage) {
        ctx.log(`no container in the manifests names image ${prepared.unmatchedImage}: the built image is not injected anywhere (use that repository in an image: field, or deploy.imageFields for custom resources)`, 'warn');
      }
      if (lastApply?.hash === prepared.hash) {
        // The bytes changed (a comment, a reordered key) but not the objects: remember the new key.
        await writeAppliedRecord(ctx.config.root, ctx.service.name, { ...record!, applied: { ...lastApply, key } }).catch(() => {});
        return unchanged(`${prepared.objects.length} object${prepared.objects.length === 1 ? '' : 's'} identical to`);
      }

      const dyn = new DynamicClient(client.loaded.kc, client.requestTimeoutMs);
      const owner = ownerOf(ctx);
      const previousRefs = record?.context === client.context ? record.objects : [];
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
      await writeAppliedRecord(ctx.config.root, ctx.service.name, {
        context: client.context,
        objects: unionRefs(appliedRefs, kept),
        applied: { server: target.server, hash: prepared.hash, key },
      });

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
