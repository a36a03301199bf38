import path from 'node:path';
import { parseDuration } from './units.js';
import type { RenderSpec, ResourceSpec } from './manifests-schema.js';
import type { ResolvedManifests, ResolvedService } from './resolved.js';

/**
 * Resolving the manifest parts of the config: absolute paths, milliseconds, and the folders a
 * service must watch so that editing a manifest (or a render input) re-applies it.
 */

type Abs = (p: string) => string;

export function resolveManifests(
  spec: { manifests?: string[]; render?: RenderSpec; imageFields?: { kind: string; path: string }[] },
  abs: Abs,
): ResolvedManifests | undefined {
  if (!spec.manifests && !spec.render) return undefined;
  return {
    paths: (spec.manifests ?? []).map(abs),
    render: spec.render && {
      command: spec.render.command,
      cwd: abs(spec.render.cwd ?? '.'),
      env: spec.render.env ?? {},
      timeoutMs: parseDuration(spec.render.timeout),
      watch: spec.render.watch.map(abs),
    },
    imageFields: spec.imageFields ?? [],
  };
}

/** The folder (or file) to watch for a manifest entry: a glob is watched from its static prefix. */
export function manifestWatchPaths(m: ResolvedManifests): string[] {
  const staticPart = (p: string) => {
    const parts = p.split(path.sep);
    const firstGlob = parts.findIndex((part) => /[*?[\]{}!]/.test(part));
    return firstGlob === -1 ? p : parts.slice(0, firstGlob).join(path.sep) || path.sep;
  };
  return [...new Set([...m.paths.map(staticPart), ...(m.render?.watch ?? [])])];
}

/** Adds the manifest paths to what a service watches (creating a watch section when absent). */
export function withManifestWatch(service: ResolvedService): ResolvedService {
  const m = service.deploy?.manifests;
  if (!m) return service;
  const extra = manifestWatchPaths(m);
  const paths = [...new Set([...(service.watch?.paths ?? []), ...extra])];
  return { ...service, watch: { paths, ignore: service.watch?.ignore ?? [] } };
}

/** A resource is a service with no build: trigger → deploy (apply) → ready. */
export function resolveResource(name: string, r: ResourceSpec, defaultNamespace: string, abs: Abs): ResolvedService {
  const service: ResolvedService = {
    name,
    kind: 'service',
    role: 'resource',
    trigger: r.trigger,
    onChange: 'restart',
    dependsOn: r.dependsOn,
    deploy: {
      manifests: resolveManifests(r, abs),
      namespace: r.namespace ?? defaultNamespace,
      strategy: 'set-image',
      readyTimeoutMs: parseDuration(r.readyTimeout),
      portForwards: r.portForwards.map((pf) => {
        const [local, remote] = pf.split(':').map(Number);
        return { local: local!, remote: remote! };
      }),
      streamLogs: r.logs,
      ...(r.readiness?.command && { readiness: { command: r.readiness.command, timeoutMs: parseDuration(r.readiness.timeout) } }),
    },
  };
  return withManifestWatch(service);
}
