import { watch, type FSWatcher } from 'chokidar';
import type { ResolvedConfig } from '../config/resolved.js';
import { ignoreMatcher, isWithin } from './ignore.js';

export interface ChangeBatch {
  service: string;
  files: string[];
  firstChangeAt: number;
}

/** Which services a file belongs to: under one of its watch paths and not ignored by it. */
export class ServiceFileMap {
  private readonly entries: { service: string; paths: string[]; ignored: (p: string) => boolean }[];
  /** Never watched for anyone: our own state, VCS internals, and every staging folder (else staging retriggers). */
  readonly alwaysIgnored: (p: string) => boolean;

  constructor(config: ResolvedConfig) {
    this.entries = Object.values(config.services)
      .filter((s) => s.watch)
      .map((s) => ({ service: s.name, paths: s.watch!.paths, ignored: ignoreMatcher(config.root, s.watch!.ignore) }));
    const internal = [`${config.root}/.tightloop`, `${config.root}/.git`, ...Object.values(config.services).flatMap((s) => (s.stage ? [s.stage.dir] : []))];
    this.alwaysIgnored = (p) => internal.some((dir) => isWithin(dir, p));
  }

  servicesFor(file: string): string[] {
    if (this.alwaysIgnored(file)) return [];
    return this.entries.filter((e) => e.paths.some((root) => isWithin(root, file)) && !e.ignored(file)).map((e) => e.service);
  }

  /** For chokidar: skip a path (and never traverse a folder) when no service wants anything in it. */
  ignoredByAll(file: string): boolean {
    if (this.alwaysIgnored(file)) return true;
    const owners = this.entries.filter((e) => e.paths.some((root) => isWithin(root, file) || isWithin(file, root)));
    return owners.length > 0 && owners.every((e) => e.ignored(file));
  }

  get watchedPaths(): string[] {
    return [...new Set(this.entries.flatMap((e) => e.paths))];
  }
}

/**
 * chokidar over every service's watch paths. Bursts (Save All, git checkout) are batched per
 * service: a batch is flushed once no change arrived for `quietWindowMs`, or at most
 * 4 × quietWindowMs after its first change so a continuous writer cannot starve the loop.
 */
export class SourceWatcher {
  private watcher?: FSWatcher;
  private readonly batches = new Map<string, { files: Set<string>; firstChangeAt: number; timer: NodeJS.Timeout }>();

  constructor(
    private readonly map: ServiceFileMap,
    private readonly quietWindowMs: number,
    private readonly onBatch: (batch: ChangeBatch) => void,
    private readonly onError: (message: string) => void,
    /** Every raw change, before batching (the scheduler's settle rule needs the real last change). */
    private readonly onActivity: (service: string, at: number) => void = () => {},
  ) {}

  async start(): Promise<void> {
    const paths = this.map.watchedPaths;
    if (paths.length === 0) return;
    this.watcher = watch(paths, {
      ignoreInitial: true,
      ignored: (file) => this.map.ignoredByAll(file),
      // Editors save by rename; chokidar folds that into one change event.
      atomic: true,
    });
    this.watcher.on('all', (_event, file) => this.changed(file));
    this.watcher.on('error', (error) => this.onError(`file watcher: ${(error as Error).message}`));
    await new Promise<void>((resolve) => this.watcher!.once('ready', resolve));
  }

  changed(file: string, at = Date.now()): void {
    for (const service of this.map.servicesFor(file)) {
      this.onActivity(service, at);
      let batch = this.batches.get(service);
      if (!batch) {
        batch = { files: new Set(), firstChangeAt: at, timer: undefined as unknown as NodeJS.Timeout };
        this.batches.set(service, batch);
      } else clearTimeout(batch.timer);
      batch.files.add(file);
      const waited = at - batch.firstChangeAt;
      const delay = Math.max(0, Math.min(this.quietWindowMs, this.quietWindowMs * 4 - waited));
      batch.timer = setTimeout(() => this.flush(service), delay);
    }
  }

  private flush(service: string): void {
    const batch = this.batches.get(service);
    if (!batch) return;
    this.batches.delete(service);
    this.onBatch({ service, files: [...batch.files], firstChangeAt: batch.firstChangeAt });
  }

  /** Folders chokidar actually entered (diagnostics and tests: ignored ones must never appear). */
  watchedFolders(): string[] {
    return Object.keys(this.watcher?.getWatched() ?? {});
  }

  async stop(): Promise<void> {
    for (const batch of this.batches.values()) clearTimeout(batch.timer);
    this.batches.clear();
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
