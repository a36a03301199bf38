import type Docker from 'dockerode';
import type { DockerClient } from './client.js';
import { LABEL_MANAGED, LABEL_SERVICE, TIGHTLOOP_TAG } from '../reference.js';

/** Nanoseconds since the epoch from the engine's RFC 3339 "Created" (list gives only seconds). */
function createdNs(created: string): bigint {
  const match = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(created);
  if (!match) return 0n;
  const ms = Date.parse(match[1]! + match[3]!);
  return BigInt(Number.isNaN(ms) ? 0 : ms) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0').slice(0, 9));
}

/**
 * Keeps the newest `keep` Tightloop images of a service. Only images carrying both our labels and
 * one of our tl- tags are candidates; only our tl- tags are removed (an image someone else also
 * tagged survives); protected IDs (just built, deployed) are never touched. Never throws.
 */
export async function collectGarbage(
  client: DockerClient,
  service: string,
  keep: number,
  protect: Set<string>,
  log: (text: string, stream?: 'info' | 'warn') => void,
  signal: AbortSignal,
): Promise<string[]> {
  const removed: string[] = [];
  try {
    const listed = await client.api('list images', signal, (s) =>
      client.docker.listImages({ filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_SERVICE}=${service}`] }, abortSignal: s }),
    );
    const ours = listed.filter((image) => (image.RepoTags ?? []).some((tag) => TIGHTLOOP_TAG.test(tag)));
    if (ours.length <= keep) return removed;
    const withTime = [];
    for (const image of ours) {
      const inspected = await client.inspectImage(image.Id, signal);
      if (inspected) withTime.push({ image, created: createdNs(inspected.Created) });
    }
    withTime.sort((a, b) => (a.created === b.created ? 0 : a.created > b.created ? -1 : 1));
    for (const { image } of withTime.slice(keep)) {
      if (protect.has(image.Id)) continue;
      for (const tag of (image.RepoTags ?? []).filter((t) => TIGHTLOOP_TAG.test(t))) {
        try {
          await client.api(`remove ${tag}`, signal, (s) => client.docker.getImage(tag).remove({ abortSignal: s } satisfies Docker.ImageRemoveOptions));
          removed.push(tag);
        } catch (error) {
          log(`kept ${tag}: ${(error as Error).message}`, 'warn');
        }
      }
    }
    if (removed.length) log(`removed ${removed.length} old image tag(s), keeping the newest ${keep}: ${removed.join(', ')}`, 'info');
  } catch (error) {
    if (signal.aborted) throw error;
    log(`image cleanup skipped: ${(error as Error).message}`, 'warn');
  }
  return removed;
}
