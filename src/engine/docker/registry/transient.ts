import { StageError } from '../../stages/stage.js';
import { connectionBroke, retryAfterMs, type Transient } from '../../retry.js';

/** A registry answered with an HTTP error: the status is kept so a 5xx can be told from a refusal. */
export class RegistryHttpError extends StageError {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfter: string | string[] | undefined,
    options: ConstructorParameters<typeof StageError>[1] = {},
  ) {
    super(message, options);
  }
}

/**
 * Transient on the registry side: a 5xx answer (or 429) or a connection that broke mid-request.
 * Not transient: refusals (401/403), a rejected manifest or digest (4xx), a registry that is not
 * there at all (connection refused: retrying would only delay the clear error).
 */
export function registryTransient(error: unknown): Transient | undefined {
  if (error instanceof RegistryHttpError) {
    if (error.status < 500 && error.status !== 429) return undefined;
    const after = retryAfterMs(error.retryAfter);
    return { cause: error.message, ...(after !== undefined && { retryAfterMs: after }) };
  }
  if (error instanceof StageError) {
    const broke = connectionBroke(error.options.cause);
    return broke ? { cause: `${broke}: ${error.message}` } : undefined;
  }
  const broke = connectionBroke(error);
  return broke ? { cause: broke } : undefined;
}

/** The last error, saying how many attempts were made. */
export function afterRetries(error: unknown, attempts: number): unknown {
  if (!(error instanceof StageError)) return error;
  return new StageError(`${error.message} (gave up after ${attempts} attempts)`, error.options);
}
