import { randomBytes } from 'node:crypto';
import type { Runnable } from '../config/resolved.js';
import type { EngineEvent, HoldReason, RunSummary, RunTrigger, StageName } from '../types.js';
import { Semaphore } from './semaphore.js';

export interface SchedulerOptions {
  nodes: ReadonlyMap<string, Runnable>;
  parallelism: number;
  execute: (node: Runnable, trigger: RunTrigger, signal: AbortSignal, runId: string, force: boolean) => Promise<RunSummary>;
  emit: (event: EngineEvent) => void;
  /** When the service's files last changed (raw events, before batching); see `settleMs`. */
  lastActivity?: (name: string) => number | undefined;
  /**
   * A follow-up run (changes that arrived during a run) waits until files have been quiet this
   * long, so a burst of saves ends in one run that sees the last content instead of a chain of
   * runs that each get superseded. The first change of a quiet period still starts at once.
   */
  settleMs?: number;
}

export interface RequestOptions {
  /** Run dependencies that have not succeeded yet in this session first (CLI `run`). */
  withDependencies?: boolean;
  force?: boolean;
}

interface Pending {
  trigger: RunTrigger;
  waiters: ((summary: RunSummary) => void)[];
  withDependencies: boolean;
  force: boolean;
  /** Created while a run of the service was in progress. */
  followUp: boolean;
}

interface Slot {
  running?: { controller: AbortController; stage?: StageName };
  /** At most one follow-up per service: every change during a run merges into it. */
  pending?: Pending;
  /** True while the pending run waits for dependencies or a parallelism permit. */
  starting: boolean;
  /** Why the queued run (or a manual node with news) is not running yet. */
  waiting?: HoldReason;
  last?: RunSummary;
  idleWaiters: (() => void)[];
}

/**
 * Changed files remembered per run trigger. A `git checkout` or a generator can touch tens of
 * thousands of files during one run; the trigger is kept in memory, in every event and in each
 * history line, and only needs to say what happened ("… and N more" is told by the count).
 */
export const MAX_CHANGED_FILES = 1000;

/** `files`, at most MAX_CHANGED_FILES of them (the first ones). */
export function capFiles(files: Iterable<string>): string[] {
  const out: string[] = [];
  for (const file of files) {
    if (out.length >= MAX_CHANGED_FILES) break;
    out.push(file);
  }
  return out;
}

const REASON_RANK: Record<RunTrigger['reason'], number> = { initial: 0, dependency: 1, pod: 2, watch: 3, save: 4, manual: 5 };

/**
 * Decides when runs start. Per service at most one run at a time; changes during a run coalesce
 * into exactly one follow-up that starts after it (so it sees the latest content); with
 * `onChange: restart` a change during compile cancels the compile. Dependencies run first and a
 * failed dependency stops its dependents (no partial deploys).
 */
export class Scheduler {
  private readonly slots = new Map<string, Slot>();
  private readonly permits: Semaphore;
  /**
   * In watch mode a successful run also triggers what depends on it: every auto node, or only
   * the named ones (`watch a b`).
   */
  cascade: false | 'all' | ReadonlySet<string> = false;
  /** After close (engine dispose) nothing starts any more. */
  private closed = false;

  constructor(private readonly options: SchedulerOptions) {
    this.permits = new Semaphore(options.parallelism);
    for (const name of options.nodes.keys()) this.slots.set(name, { starting: false, idleWaiters: [] });
  }

  request(name: string, trigger: RunTrigger, options: RequestOptions = {}): Promise<RunSummary> {
    const slot = this.slot(name);
    const node = this.options.nodes.get(name)!;
    if (this.closed) return Promise.resolve(notRun(name, trigger, 'cancelled', 'not run: Tightloop is shutting down'));
    const done = new Promise<RunSummary>((resolve) => {
      if (slot.pending) {
        mergeInto(slot.pending, trigger, options);
        slot.pending.waiters.push(resolve);
      } else {
        slot.pending = {
          trigger: { ...trigger, changedFiles: capFiles(trigger.changedFiles) },
          waiters: [resolve],
          withDependencies: !!options.withDependencies,
          force: !!options.force,
          followUp: !!slot.running,
        };
      }
    });
    this.options.emit({ type: 'run-queued', service: name, trigger });
    if (slot.running) this.hold(name, slot, { kind: 'running', message: 'waiting for the current run to finish' });
    const isChange = trigger.reason === 'watch' || trigger.reason === 'save';
    if (slot.running && isChange && node.kind === 'service' && node.onChange === 'restart' && slot.running.stage === 'compile') {
      slot.running.controller.abort(new Error('superseded by a newer change'));
    }
    void this.pump(name);
    return done;
  }

  /** The engine reports stage starts so restart-on-change knows whether a compile is running. */
  noteStage(name: string, stage: StageName): void {
    const running = this.slots.get(name)?.running;
    if (running) running.stage = stage;
  }

  /** Cancels the running run and removes the queued one, wherever it waits (dependency, slot, settle). */
  cancel(name?: string): void {
    for (const [slotName, slot] of this.slots) {
      if (name !== undefined && slotName !== name) continue;
      if (slot.pending) this.finishWithout(slotName, slot, 'cancelled', 'cancelled by user before it started');
      slot.running?.controller.abort(new Error('cancelled by user'));
    }
  }

  /** Engine dispose: cancel everything and never start anything again. */
  close(): void {
    this.closed = true;
    this.cascade = false;
    this.cancel();
  }

  /** Why the service's queued run waits, if it does. */
  holdReason(name: string): HoldReason | undefined {
    return this.slots.get(name)?.waiting;
  }

  /** Whether a run of the service executes now, and whether one waits to start (both, for a follow-up). */
  activity(name: string): { running: boolean; queued: boolean } {
    const slot = this.slots.get(name);
    return { running: slot?.running !== undefined, queued: slot?.pending !== undefined };
  }

  runningStage(name: string): StageName | undefined {
    return this.slots.get(name)?.running?.stage;
  }

  lastRun(name: string): RunSummary | undefined {
    return this.slots.get(name)?.last;
  }

  /** Resolves when the service (or every service) has nothing running or queued. */
  async whenIdle(name?: string): Promise<void> {
    const names = name === undefined ? [...this.slots.keys()] : [name];
    for (const n of names) {
      const slot = this.slot(n);
      while (slot.running || slot.pending) await new Promise<void>((r) => slot.idleWaiters.push(r));
    }
  }

  private slot(name: string): Slot {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`unknown service or task "${name}"`);
    return slot;
  }

  private async pump(name: string): Promise<void> {
    const slot = this.slot(name);
    if (slot.running || slot.starting || !slot.pending) return;
    const pending = slot.pending;
    slot.starting = true;
    const node = this.options.nodes.get(name)!;
    // Cancel (or close) ends a queued run by taking it out of the slot; check after every wait.
    const gone = () => this.closed || slot.pending !== pending;
    const giveUp = () => {
      slot.starting = false;
      this.next(name, slot);
    };

    // Independent dependencies run side by side (up to the parallelism limit), not in turn.
    const busy = node.dependsOn.filter((dep) => this.slot(dep).running || this.slot(dep).pending || (!this.slot(dep).last && pending.withDependencies));
    if (busy.length) this.hold(name, slot, { kind: 'dependency', on: busy, message: `waiting for ${busy.length === 1 ? 'dependency' : 'dependencies'} ${busy.map((d) => `"${d}"`).join(', ')}` });
    await Promise.all(
      node.dependsOn.map(async (dep) => {
        const depSlot = this.slot(dep);
        if (depSlot.running || depSlot.pending) await this.whenIdle(dep);
        else if (!depSlot.last && pending.withDependencies && !gone()) {
          await this.request(dep, { reason: 'dependency', changedFiles: [] }, { withDependencies: true, force: pending.force });
        }
      }),
    );
    if (gone()) return giveUp();
    for (const dep of node.dependsOn) {
      const last = this.slot(dep).last;
      if (last && last.status !== 'ok') {
        slot.starting = false;
        this.finishWithout(name, slot, 'failed', `not run: dependency "${dep}" ${last.status === 'cancelled' ? 'was cancelled' : 'failed'}`);
        return;
      }
    }
    if (pending.followUp) {
      this.hold(name, slot, { kind: 'settle', message: 'waiting for changes to settle' });
      await this.settle(name, gone);
      if (gone()) return giveUp();
    }
    if (!this.permits.free) this.hold(name, slot, { kind: 'parallelism', message: `waiting for a parallelism slot (${this.options.parallelism} in use)` });
    await this.permits.acquire();
    if (gone()) {
      this.permits.release();
      return giveUp();
    }
    slot.pending = undefined;
    slot.waiting = undefined;
    const controller = new AbortController();
    slot.running = { controller };
    slot.starting = false;
    const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    let summary: RunSummary;
    try {
      summary = await this.options.execute(node, pending.trigger, controller.signal, runId, pending.force);
    } catch (error) {
      // The pipeline reports stage failures itself; this is a bug or an I/O fault around it.
      // Waiters must still get an answer, or `whenIdle` and `run` would hang forever.
      summary = internalFailure(name, runId, pending.trigger, error);
      this.options.emit({ type: 'run-finished', summary });
    } finally {
      this.permits.release();
      slot.running = undefined;
    }
    slot.last = summary;
    for (const resolve of pending.waiters) resolve(summary);
    if (summary.status === 'ok' && this.cascade && !this.closed && didWork(summary)) this.triggerDependents(name);
    this.next(name, slot);
  }

  /**
   * After a run ends, or a queued run gives up its turn: start the run queued meanwhile (a change
   * during the run, a new request), end it on shutdown, or tell idle waiters there is none.
   */
  private next(name: string, slot: Slot): void {
    if (slot.pending && !this.closed) void this.pump(name);
    else if (slot.pending) this.finishWithout(name, slot, 'cancelled', 'not run: Tightloop is shutting down');
    else this.wakeIdle(slot);
  }

  /** Records and reports why a queued run is not running yet (Tilt's hold reasons). */
  private hold(name: string, slot: Slot, reason: HoldReason): void {
    if (slot.waiting?.message === reason.message) return;
    slot.waiting = reason;
    this.options.emit({ type: 'run-waiting', service: name, reason });
  }

  /** Waits until the service's files have been quiet for `settleMs` (bounded: at most 10 s). */
  private async settle(name: string, gone: () => boolean): Promise<void> {
    const settleMs = this.options.settleMs ?? 0;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const last = this.options.lastActivity?.(name);
      const quietFor = last === undefined ? Infinity : Date.now() - last;
      if (quietFor >= settleMs || Date.now() >= deadline || gone()) return;
      await new Promise((r) => setTimeout(r, settleMs - quietFor));
    }
  }

  private triggerDependents(name: string): void {
    for (const node of this.options.nodes.values()) {
      if (!node.dependsOn.includes(name)) continue;
      if (this.cascade !== 'all' && this.cascade && !this.cascade.has(node.name)) continue;
      if (node.trigger === 'manual') {
        // Runs only when asked (a 300-second load test must not fire on every save); say so.
        const slot = this.slot(node.name);
        if (!slot.pending && !slot.running) this.hold(node.name, slot, { kind: 'manual', message: `"${name}" was rebuilt; trigger: manual, run it when you want` });
        continue;
      }
      void this.request(node.name, { reason: 'dependency', changedFiles: [] });
    }
  }

  /** Ends a queued run without running it (dependency failed, or cancelled before it started). */
  private finishWithout(name: string, slot: Slot, status: 'failed' | 'cancelled', error: string): void {
    const pending = slot.pending;
    if (!pending) return;
    slot.pending = undefined;
    slot.waiting = undefined;
    const summary = notRun(name, pending.trigger, status, error);
    slot.last = summary;
    this.options.emit({ type: 'run-finished', summary });
    for (const resolve of pending.waiters) resolve(summary);
    this.wakeIdle(slot);
  }

  private wakeIdle(slot: Slot): void {
    const waiters = slot.idleWaiters.splice(0);
    for (const wake of waiters) wake();
  }
}

function notRun(service: string, trigger: RunTrigger, status: 'failed' | 'cancelled', error: string): RunSummary {
  const now = Date.now();
  return { service, runId: `${now.toString(36)}-skip`, status, startedAt: now, durationMs: 0, trigger, records: [], failedStage: 'trigger', error };
}

function internalFailure(service: string, runId: string, trigger: RunTrigger, error: unknown): RunSummary {
  const now = Date.now();
  const message = error instanceof Error ? error.message : String(error);
  return { service, runId, status: 'failed', startedAt: now, durationMs: 0, trigger, records: [], failedStage: 'trigger', error: `internal error: ${message}` };
}

function mergeInto(pending: Pending, trigger: RunTrigger, options: RequestOptions): void {
  if (pending.trigger.changedFiles.length < MAX_CHANGED_FILES) {
    pending.trigger.changedFiles = capFiles(new Set([...pending.trigger.changedFiles, ...trigger.changedFiles]));
  }
  if (REASON_RANK[trigger.reason] > REASON_RANK[pending.trigger.reason]) pending.trigger.reason = trigger.reason;
  const first = [pending.trigger.firstChangeAt, trigger.firstChangeAt].filter((t): t is number => t !== undefined);
  if (first.length) pending.trigger.firstChangeAt = Math.min(...first);
  pending.withDependencies ||= !!options.withDependencies;
  pending.force ||= !!options.force;
}

/** A run that skipped delivery as "unchanged" changed nothing downstream. */
function didWork(summary: RunSummary): boolean {
  return !summary.records.some((r) => r.status === 'skipped' && r.detail?.startsWith('unchanged'));
}
