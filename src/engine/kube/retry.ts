import { ApiException } from '@kubernetes/client-node';
import { StageError, type StageContext } from '../stages/stage.js';
import { connectionBroke, retryAfterMs, withRetries, type Transient } from '../retry.js';
import { apiFailure, describeApiError, statusCode, type KubeClient } from './client.js';

/**
 * Transient on the API server side: 429 (throttled; its Retry-After is honoured), a 5xx, or a
 * connection reset mid-request. Never a refusal (401/403), a missing object (404), a conflict or an
 * invalid object (409/422), nor a server that is not there at all (connection refused fails fast).
 */
export function kubeTransient(error: unknown): Transient | undefined {
  const err = error instanceof StageError && error.options.cause !== undefined ? error.options.cause : error;
  const code = statusCode(err);
  if (code !== undefined) {
    if (code !== 429 && (code < 500 || code > 504)) return undefined;
    const headers = err instanceof ApiException ? (err.headers as Record<string, string | undefined>) : {};
    const after = retryAfterMs(headers['retry-after'] ?? headers['Retry-After']);
    return { cause: describeApiError(err), ...(after !== undefined && { retryAfterMs: after }) };
  }
  const broke = connectionBroke(err);
  return broke ? { cause: broke } : undefined;
}

/**
 * One API call of a stage, retried on transient failures with the client's policy; each retry is a
 * warning line naming its cause. `attempt` must make its own request options (their deadline starts
 * when they are made), and a failure after the last retry says how many attempts were made.
 */
export function retryingApi<T>(client: KubeClient, ctx: Pick<StageContext, 'signal' | 'log'>, doing: string, attempt: () => Promise<T>): Promise<T> {
  return withRetries(attempt, { policy: client.retry, signal: ctx.signal, doing, transient: kubeTransient, log: (text) => ctx.log(text, 'warn') }, (error, attempts) => {
    const failure = apiFailure(error, client, doing);
    return new StageError(`${failure.message.replace(/\.$/, '')} (gave up after ${attempts} attempts).`, failure.options);
  });
}
