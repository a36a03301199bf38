import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './fixture.js';

const ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

export async function registryUp(registry: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${registry}/v2/`, { signal: AbortSignal.timeout(2000) });
    return response.status === 200 || response.status === 401;
  } catch {
    return false;
  }
}

async function json<T>(url: string): Promise<T | undefined> {
  const response = await fetch(url, { headers: { Accept: ACCEPT } });
  return response.ok ? ((await response.json()) as T) : undefined;
}

/**
 * Deletes what this run pushed under `namespace/` (a name unique to the run): manifests through
 * the registry API, then — when the registry is the one scripts/services.sh runs, whose storage
 * folder we know — the repository folders and the blobs no other repository links to. (The API
 * alone never frees blob storage; that needs the registry's offline garbage collector.)
 */
export async function cleanupRegistry(registry: string, namespace: string, log: (m: string) => void): Promise<void> {
  const repos = (await catalog(registry).catch(() => [] as string[])).filter((r) => r.startsWith(`${namespace}/`));
  let manifests = 0;
  for (const repo of repos) {
    const tags = (await json<{ tags?: string[] }>(`http://${registry}/v2/${repo}/tags/list`))?.tags ?? [];
    for (const tag of tags) {
      const head = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
      const digest = head.headers.get('docker-content-digest');
      if (!digest) continue;
      const del = await fetch(`http://${registry}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
      if (del.ok) manifests++;
    }
  }
  const storage = await storageRoot();
  let blobs = 0;
  if (storage) blobs = await removeStorage(storage, namespace);
  log(`registry cleanup: ${repos.length} repo(s), ${manifests} manifest(s) deleted${storage ? `, ${blobs} blob(s) freed on disk` : ' (storage folder unknown: blobs stay until the registry garbage-collects)'}`);
}

/** Tags the registry holds for `repository` (host/name form, e.g. 127.0.0.1:5000/team/api). */
export async function registryTags(repository: string): Promise<string[]> {
  const slash = repository.indexOf('/');
  const list = await json<{ tags?: string[] | null }>(`http://${repository.slice(0, slash)}/v2/${repository.slice(slash + 1)}/tags/list`).catch(() => undefined);
  return list?.tags ?? [];
}

/** Every repository name, page by page (the registry caps a page at 1000). */
async function catalog(registry: string): Promise<string[]> {
  const all: string[] = [];
  let last = '';
  for (;;) {
    const page = await json<{ repositories?: string[] }>(`http://${registry}/v2/_catalog?n=1000${last ? `&last=${encodeURIComponent(last)}` : ''}`);
    const repos = page?.repositories ?? [];
    all.push(...repos);
    if (repos.length < 1000) return all;
    last = repos.at(-1)!;
  }
}

async function storageRoot(): Promise<string | undefined> {
  const file = path.join(REPO_ROOT, '.tightloop-services/registry.yml');
  if (!existsSync(file)) return undefined;
  const match = /rootdirectory:\s*([^\s}]+)/.exec(await readFile(file, 'utf8'));
  const root = match?.[1] && path.join(match[1], 'docker/registry/v2');
  return root && existsSync(path.join(root, 'repositories')) ? root : undefined;
}

/** Digests linked from one repository folder (layers, manifest revisions). */
async function linkedDigests(repoDir: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const sub of ['_layers/sha256', '_manifests/revisions/sha256']) {
    for (const d of await readdir(path.join(repoDir, sub)).catch(() => [] as string[])) out.add(d);
  }
  return out;
}

/** Every repository folder (a folder holding `_manifests`), depth-first. */
async function repositoryDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  if (entries.some((e) => e.name === '_manifests')) return [dir];
  const nested = await Promise.all(entries.filter((e) => e.isDirectory() && !e.name.startsWith('_')).map((e) => repositoryDirs(path.join(dir, e.name))));
  return nested.flat();
}

async function removeStorage(root: string, namespace: string): Promise<number> {
  const ours = path.join(root, 'repositories', namespace);
  if (!existsSync(ours)) return 0;
  const mine = new Set<string>();
  for (const repo of await repositoryDirs(ours)) for (const d of await linkedDigests(repo)) mine.add(d);
  await rm(ours, { recursive: true, force: true });
  // A blob another repository links (e.g. the same layer pushed by someone else) stays.
  for (const repo of await repositoryDirs(path.join(root, 'repositories'))) for (const d of await linkedDigests(repo)) mine.delete(d);
  for (const digest of mine) await rm(path.join(root, 'blobs/sha256', digest.slice(0, 2), digest), { recursive: true, force: true });
  return mine.size;
}
