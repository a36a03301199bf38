import type { ModelChange, RunModel } from './run-model.js';
import { entryKey } from './tree-model.js';

/**
 * Turns run-model changes into the Tightloop view's change events: only the rows of services
 * that changed, coalesced over a short window (a burst of events for 300 services becomes one
 * event), or one full refresh when the set of rows itself changed (a new config, the cluster,
 * another phase). `fire(undefined)` means everything.
 */
export class TreeUpdates {
  private readonly keys = new Set<string>();
  private full = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private generation: number;

  constructor(
    private readonly model: RunModel,
    private readonly fire: (keys: string[] | undefined) => void,
    private readonly delayMs = 16,
  ) {
    this.generation = model.generation;
  }

  modelChanged(change: ModelChange): void {
    if (this.model.generation !== this.generation || change.cluster) {
      this.generation = this.model.generation;
      this.refreshAll();
      return;
    }
    const keys: string[] = [];
    for (const names of [change.services, change.history, change.diagnostics]) {
      for (const name of names) {
        const entry = this.model.get(name);
        if (entry) keys.push(entryKey(entry));
      }
    }
    this.changed(keys);
  }

  changed(keys: Iterable<string>): void {
    for (const key of keys) this.keys.add(key);
    this.arm();
  }

  refreshAll(): void {
    this.full = true;
    this.arm();
  }

  /** Sends what is pending now (also what the timer does). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const full = this.full;
    const keys = [...this.keys];
    this.full = false;
    this.keys.clear();
    if (full) this.fire(undefined);
    else if (keys.length) this.fire(keys);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.keys.clear();
    this.full = false;
  }

  private arm(): void {
    if (this.timer || (!this.full && this.keys.size === 0)) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
  }
}
