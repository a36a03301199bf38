import os from 'node:os';
import type { ResolvedConfig } from '../config/resolved.js';
import type { ClusterFactsProvider } from '../stages/stage.js';
import { DockerClient } from './daemon/client.js';
import type { LayerCompression } from './assembly/layers.js';
import { LayerMemo } from './assembly/layer-memo.js';
import { dockerConfigDir, resolveDockerEndpoint } from './daemon/host.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../retry.js';
import { DEFAULT_LARGE_CONTEXT_BYTES, DEFAULT_TIMEOUTS, type DockerStageOptions, type DockerTimeouts } from './options.js';

/** State shared by the image and push stages and the doctor checks of one engine instance. */
export class DockerRuntime {
  readonly env: Record<string, string | undefined>;
  readonly home: string;
  readonly timeouts: DockerTimeouts;
  readonly largeContextBytes: number;
  /** File stat signature → sha256, so unchanged context files are not hashed again next run. */
  readonly hashCache = new Map<string, { signature: string; sha256: string }>();
  readonly cluster: ClusterFactsProvider | undefined;
  /** Layer blobs of direct pushes; default: uncompressed to a loopback registry, gzip elsewhere. */
  readonly layerCompression: LayerCompression | undefined;
  /** Retries of transient registry failures (5xx, connection reset) during a push. */
  readonly retry: RetryPolicy;
  private readonly memos = new Map<string, LayerMemo>();
  /** Aborted by dispose: stops background cleanup (see `background`). */
  private readonly stopping = new AbortController();
  private readonly keyedLayers: boolean;
  private current: DockerClient | undefined;
  private readonly platforms = new WeakMap<DockerClient, string>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(
    readonly config: ResolvedConfig,
    options: DockerStageOptions & { cluster?: ClusterFactsProvider } = {},
  ) {
    this.env = options.env ?? process.env;
    this.home = options.home ?? os.homedir();
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.largeContextBytes = options.largeContextBytes ?? DEFAULT_LARGE_CONTEXT_BYTES;
    this.cluster = options.cluster;
    this.layerCompression = options.layerCompression;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.keyedLayers = options.keyedLayers ?? true;
  }

  /**
   * Content-keyed layers of a service's direct-path images, with the log line per layer (reused or
   * rebuilt, size, time); undefined when turned off (benchmarks compare the two).
   */
  layerKeys(root: string, service: string, log: (text: string) => void): { memo: LayerMemo; log(text: string): void } | undefined {
    if (!this.keyedLayers) return undefined;
    const id = `${root}\0${service}`;
    let memo = this.memos.get(id);
    if (!memo) this.memos.set(id, (memo = new LayerMemo(root, service)));
    return { memo, log };
  }

  /** TIGHTLOOP_ENGINE_BUILD=1 forces the engine builder and engine push (to compare the two paths). */
  get engineForced(): boolean {
    return this.env.TIGHTLOOP_ENGINE_BUILD === '1';
  }

  get dockerConfigDir(): string {
    return dockerConfigDir(this.env, this.home);
  }

  /**
   * The client for the engine as configured right now. Resolved on every run, so switching the
   * docker context (or restarting Docker elsewhere) is picked up without restarting Tightloop.
   */
  client(): DockerClient {
    const endpoint = resolveDockerEndpoint(this.config.docker.host, this.env, this.home);
    if (this.current && this.current.endpoint.url === endpoint.url && this.current.endpoint.source === endpoint.source) return this.current;
    this.current?.dispose();
    this.current = new DockerClient(endpoint, this.timeouts);
    return this.current;
  }

  /**
   * Runs image cleanup after the stage has returned, off the loop's critical path, one at a time
   * per service. Safe to delay: it never removes the image just built or the one deployed.
   */
  background(service: string, work: (stopping: AbortSignal) => Promise<unknown>): void {
    const previous = this.pending.get(service) ?? Promise.resolve();
    const next = previous.then(() => (this.stopping.signal.aborted ? undefined : work(this.stopping.signal))).catch(() => {});
    this.pending.set(service, next);
    void next.then(() => {
      if (this.pending.get(service) === next) this.pending.delete(service);
    });
  }

  /** Waits for background cleanup: of one service (before its next build looks for its tag), or all. */
  async settled(service?: string): Promise<void> {
    await (service === undefined ? Promise.all([...this.pending.values()]) : this.pending.get(service));
  }

  /** "os/arch" of the engine, asked once per engine. */
  async enginePlatform(client: DockerClient, signal: AbortSignal): Promise<string> {
    let known = this.platforms.get(client);
    if (!known) {
      const version = await client.version(signal);
      known = `${version.Os}/${version.Arch}`;
      this.platforms.set(client, known);
    }
    return known;
  }

  /**
   * Cleanup is never worth waiting for on a config reload or deactivate (a slow registry could hold
   * it for the whole registry GC timeout): it is stopped, and what it left is collected next time.
   */
  async dispose(): Promise<void> {
    this.stopping.abort(new Error('Tightloop is stopping: background cleanup stopped'));
    await this.settled();
    this.current?.dispose();
    this.current = undefined;
  }
}
