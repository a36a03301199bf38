import type { Watch } from '@kubernetes/client-node';

/**
 * List-then-watch that survives dropped connections, like client-go's reflector: remember the
 * last resourceVersion seen (objects and BOOKMARKs), resume the watch from it when the connection
 * ends, and re-list when the server says that version is gone (410 Gone / "Expired"). A server
 * that keeps refusing gives up after a bounded number of attempts, so callers never hang.
 */

interface Meta {
  metadata?: { uid?: string; name?: string; resourceVersion?: string };
}

export interface ListWatchSpec<T> {
  /** Collection path, e.g. /api/v1/namespaces/default/pods. */
  path: string;
  query: Record<string, string>;
  list(): Promise<{ items: T[]; resourceVersion: string }>;
  onChange(): void;
  /** Called once when the watch gives up; the list-watch is stopped. */
  onFail(err: Error): void;
  /** Diagnostics: resumed, re-listed. */
  onNote?(text: string): void;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
}

export class ListWatch<T extends Meta> {
  readonly items = new Map<string, T>();
  /** True once the first list arrived (items reflect the server). */
  synced = false;
  private resourceVersion = '';
  private stopped = false;
  private failures = 0;
  private controller: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Counters, for tests and diagnostics. */
  readonly stats = { lists: 0, watches: 0, expired: 0 };

  constructor(
    private readonly watch: Watch,
    private readonly spec: ListWatchSpec<T>,
    private readonly retry: RetryPolicy = { attempts: 5, baseDelayMs: 150 },
  ) {}

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.controller?.abort();
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    this.stats.lists++;
    try {
      const { items, resourceVersion } = await this.spec.list();
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run during the await
      if (this.stopped) return;
      this.items.clear();
      for (const item of items) this.items.set(keyOf(item), item);
      this.resourceVersion = resourceVersion;
      this.synced = true;
      this.spec.onChange();
      void this.connect();
    } catch (err) {
      this.failed(err as Error, () => this.relist());
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.stats.watches++;
    let received = false;
    let expired = false;
    let ended = false;
    const query = { ...this.spec.query, allowWatchBookmarks: 'true', ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}) };
    const done = (err: unknown) => {
      if (ended) return;
      ended = true;
      if (this.stopped) return;
      const status = (err as { statusCode?: number } | null)?.statusCode;
      if (expired || status === 410) {
        this.stats.expired++;
        this.spec.onNote?.(`watch of ${this.spec.path} expired at resourceVersion ${this.resourceVersion}; re-listing`);
        void this.relist();
      } else if (received) {
        // A connection that worked and then ended (server timeout, proxy, restart): resume at once.
        this.spec.onNote?.(`watch of ${this.spec.path} closed${err ? ` (${(err as Error).message})` : ''}; resuming from resourceVersion ${this.resourceVersion}`);
        void this.connect();
      } else {
        // Nothing came through this connection: count it against the retry budget.
        this.failed(err instanceof Error ? err : new Error('the watch connection closed before sending anything'), () => this.connect());
      }
    };
    const onEvent = (type: string, obj: T & { code?: number }) => {
      if (this.stopped || ended) return;
      if (type === 'ERROR') {
        if (obj.code === 410) expired = true;
        this.controller?.abort();
        done(expired ? null : new Error(`watch error: ${(obj as { message?: string }).message ?? JSON.stringify(obj)}`));
        return;
      }
      received = true;
      this.failures = 0;
      const rv = obj.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
      if (type === 'BOOKMARK') return;
      if (type === 'DELETED') this.items.delete(keyOf(obj));
      else this.items.set(keyOf(obj), obj);
      this.spec.onChange();
    };
    try {
      const controller = await this.watch.watch(this.spec.path, query, onEvent, done);
      this.controller = controller;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() or done() may have run during the await
      if (this.stopped || ended) controller.abort();
    } catch (err) {
      done(err);
    }
  }

  private failed(err: Error, again: () => Promise<void>): void {
    if (this.stopped) return;
    this.failures++;
    // A refusal (401/403/404, an invalid request) will not change by asking again: fail at once.
    const code = statusOf(err);
    const final = code !== undefined && code >= 400 && code < 500 && code !== 429 && code !== 410;
    if (final || this.failures > this.retry.attempts) {
      this.stop();
      this.spec.onFail(err);
      return;
    }
    const delay = this.retry.baseDelayMs * 2 ** (this.failures - 1);
    this.spec.onNote?.(`retry ${this.failures} of ${this.retry.attempts} of the watch of ${this.spec.path} in ${delay} ms: ${describe(err)}`);
    this.retryTimer = setTimeout(() => void again(), delay);
  }
}

/** The HTTP status of a failed list (ApiException.code) or watch (statusCode), if the server answered. */
function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  const code = typeof e?.statusCode === 'number' ? e.statusCode : e?.code;
  return typeof code === 'number' ? code : undefined;
}

function describe(err: Error): string {
  const code = statusOf(err);
  const errno = (err as { code?: unknown }).code;
  const text = (err.message || String(err)).split('\n')[0]!.slice(0, 200);
  return code !== undefined && !text.includes(String(code)) ? `HTTP ${code}: ${text}` : typeof errno === 'string' && !text.includes(errno) ? `${text} (${errno})` : text;
}

const keyOf = (o: Meta) => o.metadata?.uid || o.metadata?.name || '';
