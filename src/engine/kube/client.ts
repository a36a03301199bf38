import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  Log,
  Observable,
  PortForward,
  VersionApi,
  Watch,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { StageError } from '../stages/stage.js';
import type { LoadedKubeConfig } from './kubeconfig.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../retry.js';

/**
 * One kubeconfig context's API handles, plus per-request options that carry cancellation, a
 * deadline and (for PATCH) the content type — client-node v1 defaults PATCH bodies to JSON patch,
 * so every patch names its strategy explicitly.
 */
export class KubeClient {
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  readonly version: VersionApi;
  readonly watch: Watch;
  readonly log: Log;
  /** disconnectOnErr=false: a port-forward error message must not tear down other streams. */
  readonly portForward: PortForward;

  constructor(
    readonly loaded: LoadedKubeConfig,
    readonly requestTimeoutMs = 15_000,
    /** Retries of transient failures (429, 5xx, connection reset) of the deploy stage's calls. */
    readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.apps = loaded.kc.makeApiClient(AppsV1Api);
    this.core = loaded.kc.makeApiClient(CoreV1Api);
    this.version = loaded.kc.makeApiClient(VersionApi);
    this.watch = new Watch(loaded.kc);
    this.log = new Log(loaded.kc);
    this.portForward = new PortForward(loaded.kc, false);
  }

  get context(): string {
    return this.loaded.context;
  }
  get server(): string {
    return this.loaded.server;
  }

  /** Options for one request: aborted by `signal` or after the request timeout. */
  options(signal?: AbortSignal, headers: Record<string, string> = {}, timeoutMs = this.requestTimeoutMs): ConfigurationOptions<ObservableMiddleware> {
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const middleware: ObservableMiddleware = {
      pre: (ctx: RequestContext) => {
        ctx.setSignal(combined);
        for (const [k, v] of Object.entries(headers)) ctx.setHeaderParam(k, v);
        return new Observable(Promise.resolve(ctx));
      },
      post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
    };
    return { middleware: [middleware], middlewareMergeStrategy: 'append' };
  }
}

/** HTTP status of a failed API call, when the server answered. */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { statusCode?: unknown; code?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The server's own Status message for an ApiException, else the network error, in one line. */
export function describeApiError(err: unknown): string {
  if (err instanceof ApiException) {
    const body = parseBody(err.body);
    const message = body?.message ?? (err.code === 401 ? 'Unauthorized (the kubeconfig credentials were rejected)' : undefined);
    return message ? `${message} (HTTP ${err.code})` : `HTTP ${err.code}`;
  }
  const e = err as { name?: string; code?: string; message?: string; type?: string } | null;
  if (e?.name === 'AbortError' || e?.type === 'aborted') return 'the request timed out or was cancelled';
  const text = e?.message ?? String(err);
  const code = e?.code ?? /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN)\b/.exec(text)?.[1];
  return code && !text.includes(code) ? `${text} (${code})` : text;
}

/** True when the failure means the API server could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  if (err instanceof ApiException) return err.code >= 502 && err.code <= 504;
  // Anything can be thrown: a string, undefined, an object that is not an Error.
  const e = err as { message?: string; code?: string; name?: string } | null | undefined;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN|socket hang up|timed out|aborted/i.test(`${e?.message} ${e?.code ?? ''} ${e?.name}`);
}

function parseBody(body: unknown): { message?: string; reason?: string } | undefined {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body);
    } catch {
      return body ? { message: body } : undefined;
    }
  }
  return body && typeof body === 'object' ? (body as { message?: string }) : undefined;
}

/** Turn an API failure into a StageError that says what went wrong and where. */
export function apiFailure(err: unknown, c: KubeClient, doing: string): StageError {
  if (err instanceof StageError) return err;
  const code = statusCode(err);
  if (code === 404) {
    return new StageError(`Cannot ${doing}: it does not exist (context ${c.context}).`, {
      hint: 'Apply the workload manifests first (kubectl apply -f …), or fix services.<name>.deploy.workload / namespace.',
      cause: err,
    });
  }
  if (code === 403) {
    return new StageError(`Cannot ${doing}: the API server refused it (${describeApiError(err)}).`, {
      hint: `Your kubeconfig user lacks RBAC permission in context ${c.context}.`,
      cause: err,
    });
  }
  if (isUnreachable(err)) {
    return new StageError(`Cannot reach the Kubernetes API at ${c.server} (context ${c.context}): ${describeApiError(err)}.`, {
      hint: `Is the cluster running? Try: kubectl --context ${c.context} get nodes`,
      cause: err,
    });
  }
  return new StageError(`Cannot ${doing}: ${describeApiError(err)}.`, { cause: err });
}
