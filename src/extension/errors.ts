/**
 * A problem the user can act on (no config, untrusted workspace, nothing running): shown as a
 * warning with buttons, not as an error with a stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly actions: { title: string; command: string; arguments?: unknown[] }[] = [],
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** The user dismissed a picker or prompt: not an error at all. */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Cancelled';
  }
}

/** Cancellation in any of its spellings (ours, VS Code's CancellationError, AbortError). */
export function isCancellation(error: unknown): boolean {
  if (error instanceof Cancelled) return true;
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'Canceled' || name === 'CancellationError' || name === 'AbortError';
}
