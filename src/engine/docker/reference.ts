/** Image names the way Docker normalises them, and Tightloop's content tags. */

export const TIGHTLOOP_TAG = /:tl-[0-9a-f]{12}$/;
export const LABEL_SERVICE = 'dev.tightloop.service';
export const LABEL_MANAGED = 'dev.tightloop.managed';
export const LABEL_PLATFORM = 'dev.tightloop.platform';

export function contentTag(repository: string, hash: string): string {
  return `${repository}:tl-${hash.slice(0, 12)}`;
}

/** `127.0.0.1:5000/team/api` → registry "127.0.0.1:5000", path "team/api"; `api` → no registry (Docker Hub). */
export function splitRepository(repository: string): { registry: string | undefined; path: string } {
  const slash = repository.indexOf('/');
  if (slash > 0) {
    const first = repository.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') return { registry: first, path: repository.slice(slash + 1) };
  }
  return { registry: undefined, path: repository };
}

/** "repo:tag" → ["repo", "tag"] (a registry port is not a tag). */
export function splitTag(ref: string): [string, string] {
  const colon = ref.lastIndexOf(':');
  if (colon < 0 || ref.indexOf('/', colon) >= 0) return [ref, 'latest'];
  return [ref.slice(0, colon), ref.slice(colon + 1)];
}

export function isLoopbackRegistry(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\./.test(name);
}

/** The registry API base URL; Docker talks plain HTTP only to loopback registries by default. */
export function registryUrl(host: string): string {
  if (host === 'docker.io' || host === 'index.docker.io') return 'https://registry-1.docker.io';
  return `${isLoopbackRegistry(host) ? 'http' : 'https'}://${host}`;
}
