import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunOutputs } from './stages/stage.js';
import { ensureStateFolder, STATE_DIR_NAME } from './state-dir.js';
import type { StageName } from './types.js';

/** What a service remembers between runs (and across restarts): the basis of every skip. */
export interface ServiceState {
  /** Outputs of the last run in which every stage succeeded or was legitimately skipped. */
  lastSuccess?: Partial<RunOutputs> & {
    fingerprint: string;
    finishedAt: number;
    /** The inputs hashes its stages ran (or were skipped) with: what its outputs are valid for. */
    inputs?: Partial<Record<StageName, string>>;
  };
  /** Per stage: the inputs hash of its last success. */
  inputs: Partial<Record<StageName, string>>;
}

export class StateStore {
  private readonly cache = new Map<string, ServiceState>();

  constructor(private readonly root: string) {}

  private file(service: string) {
    return path.join(this.root, STATE_DIR_NAME, 'state', `${service}.json`);
  }

  async get(service: string): Promise<ServiceState> {
    const cached = this.cache.get(service);
    if (cached) return cached;
    let state: ServiceState = { inputs: {} };
    try {
      state = { inputs: {}, ...(JSON.parse(await readFile(this.file(service), 'utf8')) as Partial<ServiceState>) };
    } catch {
      // First run, or an unreadable file: start clean (it only makes the next run do more work).
    }
    this.cache.set(service, state);
    return state;
  }

  async set(service: string, state: ServiceState): Promise<void> {
    this.cache.set(service, state);
    const file = this.file(service);
    await ensureStateFolder(this.root, path.dirname(file));
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify(state, null, 1));
    await rename(temp, file);
  }

  /** Forget everything (used by `--force` and when the user asks for a clean rebuild). */
  async clear(service: string): Promise<void> {
    await this.set(service, { inputs: {} });
  }
}
