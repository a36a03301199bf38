import { killGroup, runningGroups } from '../engine/compile/process-groups.js';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface Interrupt {
  /** The first signal received, if any. */
  readonly received: NodeJS.Signals | undefined;
  /** Resolves with the first signal. */
  readonly next: Promise<NodeJS.Signals>;
  dispose(): void;
}

/**
 * Ctrl-C, SIGTERM and SIGHUP (a closed terminal) all mean "stop": the first one calls `stop`,
 * which cancels the runs (their process groups get TERM, a short grace, then KILL) and lets the
 * CLI exit once they are gone. A second signal does not wait for the grace period: it kills every
 * running group at once and exits, so an impatient Ctrl-C Ctrl-C still leaves nothing behind.
 */
export function onInterrupt(stop: (signal: NodeJS.Signals) => void): Interrupt {
  let received: NodeJS.Signals | undefined;
  let resolve!: (signal: NodeJS.Signals) => void;
  const next = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (signal: NodeJS.Signals) => {
    if (received) {
      for (const pgid of runningGroups()) killGroup(pgid, 'SIGKILL');
      process.exit(130);
    }
    received = signal;
    resolve(signal);
    stop(signal);
  };
  for (const signal of SIGNALS) process.on(signal, handler);
  return {
    get received() {
      return received;
    },
    next,
    dispose: () => {
      for (const signal of SIGNALS) process.off(signal, handler);
    },
  };
}
