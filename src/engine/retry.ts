/**
 * Bounded retries with exponential backoff, for transient failures only: the caller says which
 * errors are transient (and names their cause); anything else fails at once. Every retry is logged
 * with its cause, and the backoff wait ends with the caller's signal, so a run's deadline and
 * cancellation still hold while retrying.
 */

export interface RetryPolicy {
  /** Retries after the first attempt (0: no retries). */
  retries: number;
  /** Wait before the first retry; doubled for each further one. */
  baseDelayMs: number;
  /** No single wait is longer than this (nor a server's Retry-After). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 250, maxDelayMs: 4_000 };

/** What a transient failure says about itself: the cause for the log, and the server's Retry-After if any. */
export interface Transient {
  cause: string;
  retryAfterMs?: number;
}

export interface RetryOptions {
  policy: RetryPolicy;
  signal: AbortSignal;
  /** What is being done, for the log line ("upload blob sha256:ab12…"). */
  doing: string;
  /** Transient failures are retried; undefined means the error is final. */
  transient(error: unknown): Transient | undefined;
  log(text: string): void;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-transient error, or the retries are used up.
 * When they are used up the last error is rethrown (callers' errors keep their own wording) after
 * `onExhausted` has had a chance to reword it.
 */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, options: RetryOptions, onExhausted?: (error: unknown, attempts: number, cause: string) => unknown): Promise<T> {
  const { policy, signal } = options;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (signal.aborted) throw error;
      const transient = options.transient(error);
      if (!transient) throw error;
      if (n > policy.retries) throw onExhausted ? onExhausted(error, n, transient.cause) : error;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
      const delay = Math.min(policy.maxDelayMs, Math.max(backoff, transient.retryAfterMs ?? 0));
      options.log(`retry ${n} of ${policy.retries} to ${options.doing} in ${delay} ms: ${transient.cause}`);
      await sleep(delay, signal);
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- aborted while sleeping
      if (signal.aborted) throw error;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A Retry-After header (seconds or an HTTP date) in ms, if present and sane. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Network errors that mean the connection broke mid-request (worth another try), by errno code or message. */
export function connectionBroke(error: unknown): string | undefined {
  const e = error as { code?: string; message?: string; cause?: unknown } | null;
  const code = e?.code ?? '';
  const text = `${code} ${e?.message ?? ''}`;
  const match = /\b(ECONNRESET|EPIPE|socket hang up|ECONNABORTED|other side closed)\b/i.exec(text);
  if (match) return `connection reset (${match[1]})`;
  if (e?.cause && e.cause !== error) return connectionBroke(e.cause);
  return undefined;
}
