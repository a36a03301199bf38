/**
 * Bounded waiting. Every Docker, registry and helper call gets a signal that fires on the run's
 * cancellation or on its own deadline, so a dead or frozen peer can never hang a run.
 */
export interface Bounded {
  signal: AbortSignal;
  /** True when the deadline (not the caller) ended the wait. */
  timedOut(): boolean;
}

export function bounded(signal: AbortSignal, ms: number, ...more: AbortSignal[]): Bounded {
  const deadline = AbortSignal.timeout(ms);
  return { signal: AbortSignal.any([signal, deadline, ...more]), timedOut: () => deadline.aborted && !signal.aborted };
}

/** Rejects as soon as `signal` aborts, even if `promise` ignores it (some library paths do). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
