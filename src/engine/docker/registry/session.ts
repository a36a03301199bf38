import type { Readable } from 'node:stream';
import { StageError } from '../../stages/stage.js';
import { bounded } from '../abort.js';
import { oneLine } from '../../text.js';
import { registryCredentials } from './auth.js';
import type { Delivery } from '../delivery.js';
import { MANIFEST_MEDIA_TYPE, type DirectImage } from '../assembly/image.js';
import { openLayer } from '../assembly/layers.js';
import { formatBytes, formatDuration } from '../../../shared/format.js';
import { splitRepository } from '../reference.js';
import { RegistryClient, registryErrorText, type RegistryReply, type RegistryRequest } from './client.js';
import type { DockerRuntime } from '../runtime.js';
import { withRetries } from '../../retry.js';
import { afterRetries, RegistryHttpError, registryTransient } from './transient.js';

/** Without these accept types a registry may convert the manifest and answer another digest. */
const ANY_MANIFEST = [
  MANIFEST_MEDIA_TYPE,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

type PushDelivery = Extract<Delivery, { mode: 'push' }>;

/** A registry session for the repository pushed to, with the credentials the docker CLI would use. */
export class DirectRegistry {
  private constructor(
    readonly delivery: PushDelivery,
    readonly client: RegistryClient,
    readonly credentialSource: string,
    private readonly runtime: DockerRuntime,
  ) {}

  static async open(runtime: DockerRuntime, delivery: PushDelivery, signal: AbortSignal): Promise<DirectRegistry> {
    const credentials = await registryCredentials(delivery.registry, {
      configDir: runtime.dockerConfigDir,
      env: runtime.env,
      signal,
      timeoutMs: runtime.timeouts.credentialHelperMs,
    });
    const client = new RegistryClient(delivery.registry, splitRepository(delivery.pushRepository).path, credentials.auth, runtime.timeouts.apiMs);
    return new DirectRegistry(delivery, client, credentials.source, runtime);
  }

  private get name(): string {
    return this.client.repository;
  }

  /** The manifest digest and config digest (the image ID) the registry has under `tag`, or undefined. */
  async manifestDigest(tag: string, signal: AbortSignal): Promise<{ digest: string; configDigest: string } | undefined> {
    const reply = await this.call({ method: 'GET', path: `/v2/${this.name}/manifests/${tag}`, headers: { accept: MANIFEST_MEDIA_TYPE } }, signal, 'look up a tag in');
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw this.refused(reply, `looking up ${tag}`);
    const digest = String(reply.headers['docker-content-digest'] ?? '');
    const manifest = JSON.parse(reply.body.toString('utf8')) as { mediaType?: string; config?: { digest?: string } };
    // Something else under our tag (an index, another format): assemble and push ours over it.
    if (!digest || manifest.mediaType !== MANIFEST_MEDIA_TYPE || !manifest.config?.digest) return undefined;
    return { digest, configDigest: manifest.config.digest };
  }

  /**
   * Uploads the blobs the registry lacks (HEAD first; layers in parallel), then the manifest under
   * `tag`, and checks the registry computed the same digest. Bounded by the push timeout.
   */
  async push(image: DirectImage, tag: string, outer: AbortSignal, log: (text: string, level?: 'warn') => void): Promise<{ uploaded: number; total: number; bytes: number }> {
    const limit = bounded(outer, this.runtime.timeouts.pushMs);
    // One failed upload stops the others: nothing of this push (no layer still being read from
    // disk) may outlive it, or outlive the run and the engine.
    const stop = new AbortController();
    const signal = AbortSignal.any([limit.signal, stop.signal]);
    try {
      // An image index: every platform's blobs (each once), then its manifests by digest, then the index.
      const images = image.children ?? [image];
      const unique = new Map<string, { digest: string; size: number; open?: () => Readable; bytes?: Buffer }>();
      for (const one of images) {
        for (const l of one.layers) unique.set(l.digest, { digest: l.digest, size: l.size, open: () => openLayer(l, signal) });
        unique.set(one.configDigest, { digest: one.configDigest, size: one.config.length, bytes: one.config });
      }
      const blobs = [...unique.values()];
      let uploaded = 0;
      let bytes = 0;
      const retrying = <T>(doing: string, attempt: () => Promise<T>) =>
        withRetries(attempt, { policy: this.runtime.retry, signal, doing, transient: registryTransient, log: (text) => log(text, 'warn') }, afterRetries);
      const settled = await Promise.allSettled(
        blobs.map(async (blob) => {
          try {
            await retrying(`upload blob ${blob.digest.slice(0, 19)}`, async () => {
              if (await this.hasBlob(blob.digest, signal)) return;
              await this.upload(blob.digest, blob.bytes ?? { length: blob.size, open: blob.open! }, signal);
              uploaded++;
              bytes += blob.size;
              log(`${blob.digest.slice(7, 19)}: uploaded ${formatBytes(blob.size)}`);
            });
          } catch (error) {
            if (!stop.signal.aborted) stop.abort(error);
            throw error;
          }
        }),
      );
      if (stop.signal.aborted) throw stop.signal.reason;
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
      if (image.children) {
        await Promise.all(
          image.children.map((child) => retrying(`store the manifest ${child.digest.slice(0, 19)}`, () => this.putManifest(child.digest, child.manifest, child.digest, child.mediaType ?? MANIFEST_MEDIA_TYPE, signal))),
        );
      }
      await retrying(`store the manifest ${tag}`, () => this.putManifest(tag, image.manifest, image.digest, image.mediaType ?? MANIFEST_MEDIA_TYPE, signal));
      return { uploaded, total: blobs.length, bytes };
    } catch (error) {
      if (outer.aborted) throw outer.reason;
      if (limit.timedOut()) throw new StageError(`the push to ${this.delivery.registry} did not finish within ${formatDuration(this.runtime.timeouts.pushMs)}`);
      throw error;
    }
  }

  /** PUT of a manifest (an image's or an index's) under a tag, checking the registry computed the same digest. */
  async putManifest(tag: string, manifest: Buffer, digest: string, mediaType: string, signal: AbortSignal): Promise<void> {
    const reply = await this.call({ method: 'PUT', path: `/v2/${this.name}/manifests/${tag}`, headers: { 'content-type': mediaType }, body: manifest }, signal, 'push the manifest to');
    if (reply.status !== 201 && reply.status !== 200) throw this.refused(reply, 'storing the manifest');
    const answered = String(reply.headers['docker-content-digest'] ?? '');
    if (answered && answered !== digest) throw new StageError(`registry ${this.delivery.registry} stored the manifest as ${answered}, not ${digest}`);
  }

  /**
   * DELETE of a manifest by digest (this removes every tag on it). 405 or UNSUPPORTED means the
   * registry has deletes disabled; any other refusal is returned as text for a warning.
   */
  async deleteManifest(digest: string, signal: AbortSignal): Promise<'deleted' | 'missing' | 'unsupported' | string> {
    const reply = await this.call({ method: 'DELETE', path: `/v2/${this.name}/manifests/${digest}` }, signal, 'delete a manifest in');
    if (reply.status === 202 || reply.status === 200) return 'deleted';
    if (reply.status === 404) return 'missing';
    if (reply.status === 405 || /UNSUPPORTED/.test(reply.body.toString('utf8'))) return 'unsupported';
    return `HTTP ${reply.status} ${registryErrorText(reply)}`;
  }

  /** Every tag of the repository (following the Link header's pages); none when the repository is unknown. */
  async listTags(signal: AbortSignal): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = `/v2/${this.name}/tags/list?n=1000`;
    while (next) {
      const reply = await this.call({ method: 'GET', path: next }, signal, 'list tags in');
      if (reply.status === 404) break;
      if (reply.status !== 200) throw this.refused(reply, 'listing tags');
      tags.push(...((JSON.parse(reply.body.toString('utf8')) as { tags?: string[] | null }).tags ?? []));
      next = /<([^>]+)>;\s*rel="next"/.exec(String(reply.headers.link ?? ''))?.[1];
    }
    return tags;
  }

  /** The digest a tag points at (whatever the manifest type), or undefined when it is gone. */
  async headManifest(tag: string, signal: AbortSignal): Promise<string | undefined> {
    const reply = await this.call({ method: 'HEAD', path: `/v2/${this.name}/manifests/${tag}`, headers: { accept: ANY_MANIFEST } }, signal, 'look up a tag in');
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw this.refused(reply, `looking up ${tag}`);
    const digest = String(reply.headers['docker-content-digest'] ?? '');
    if (!digest) throw new StageError(`registry ${this.delivery.registry} gave no digest for ${tag}`);
    return digest;
  }

  /**
   * What a tag points at: its digest and, for an image index, the digests of the manifests it lists
   * (deleting one of those would break the index). Undefined when the tag is gone.
   */
  async manifestReferences(tag: string, signal: AbortSignal): Promise<{ digest: string; children: string[] } | undefined> {
    const reply = await this.call({ method: 'GET', path: `/v2/${this.name}/manifests/${tag}`, headers: { accept: ANY_MANIFEST } }, signal, 'read a manifest in');
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw this.refused(reply, `reading the manifest of ${tag}`);
    const digest = String(reply.headers['docker-content-digest'] ?? '');
    if (!digest) throw new StageError(`registry ${this.delivery.registry} gave no digest for ${tag}`);
    let children: string[] = [];
    try {
      const manifests = (JSON.parse(reply.body.toString('utf8')) as { manifests?: { digest?: unknown }[] }).manifests;
      if (Array.isArray(manifests)) children = manifests.map((m) => m.digest).filter((d): d is string => typeof d === 'string');
    } catch {
      // not JSON: an image manifest of some other kind, which lists no manifests
    }
    return { digest, children };
  }

  private async hasBlob(digest: string, signal: AbortSignal): Promise<boolean> {
    const reply = await this.call({ method: 'HEAD', path: `/v2/${this.name}/blobs/${digest}` }, signal, 'look up a blob in');
    if (reply.status === 200) return true;
    if (reply.status === 404) return false;
    throw this.refused(reply, `looking up blob ${digest.slice(0, 19)}`);
  }

  /** POST for an upload URL, then one monolithic PUT ?digest= (the registry checks the digest). */
  private async upload(digest: string, body: RegistryRequest['body'], signal: AbortSignal): Promise<void> {
    const started = await this.call({ method: 'POST', path: `/v2/${this.name}/blobs/uploads/` }, signal, 'start an upload to');
    const location = started.headers.location;
    if (started.status !== 202 || !location) throw this.refused(started, 'starting a blob upload');
    const url = new URL(location, this.client.base);
    url.searchParams.set('digest', digest);
    const done = await this.call({ method: 'PUT', path: url.toString(), headers: { 'content-type': 'application/octet-stream' }, body }, signal, 'upload to');
    if (done.status === 201) return;
    if (done.status === 400 && /DIGEST_INVALID/.test(done.body.toString('utf8'))) {
      throw new StageError(`a staged file changed while it was being pushed (registry ${this.delivery.registry}: digest mismatch for ${digest.slice(0, 19)}); run again`);
    }
    throw this.refused(done, `uploading blob ${digest.slice(0, 19)}`);
  }

  private async call(request: RegistryRequest, signal: AbortSignal, doing: string): Promise<RegistryReply> {
    try {
      return await this.client.send(request, signal);
    } catch (error) {
      if (signal.aborted || error instanceof StageError) throw error;
      const cause = oneLine((error as Error).message);
      const code = (error as NodeJS.ErrnoException).code;
      throw new StageError(`registry ${this.delivery.registry} is not reachable (could not ${doing} it): ${code === 'ECONNREFUSED' ? 'connection refused' : cause}`, {
        hint: `start the registry at ${this.delivery.registry} (or fix docker.registry), then run again`,
        cause: error,
      });
    }
  }

  private refused(reply: RegistryReply, doing: string): StageError {
    const text = registryErrorText(reply);
    if (reply.status === 401 || reply.status === 403) {
      return new StageError(`registry ${this.delivery.registry} refused the push: HTTP ${reply.status} ${text} (credentials: ${this.credentialSource})`, {
        hint: `run \`docker login ${this.delivery.registry}\` (or fix the credential helper), then run again`,
      });
    }
    return new RegistryHttpError(`registry ${this.delivery.registry} failed ${doing}: HTTP ${reply.status} ${text}`, reply.status, reply.headers['retry-after']);
  }
}
