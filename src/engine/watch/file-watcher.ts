import { watch, type FSWatcher } from 'chokidar';
import { existsSync, readdirSync, statSync, watch as watchFolder, type FSWatcher as FolderWatcher, type Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
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

  /** `only`: watch for these services alone (CLI `watch a b`). */
  constructor(config: ResolvedConfig, only?: ReadonlySet<string>) {
    this.entries = Object.values(config.services)
      .filter((s) => s.watch && (!only || only.has(s.name)))
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
  /** Watch roots that were deleted, each with the watcher on its nearest existing ancestor. */
  private readonly gone = new Map<string, FolderWatcher | undefined>();
  private readonly checks = new Map<string, () => void>();
  /** While a root is gone: a slow look as well, in case a folder event is lost. */
  private goneTimer?: NodeJS.Timeout;
  /**
   * Which folder each watched folder is (device + inode + birth time). `rm -rf dist && mkdir dist`
   * at once leaves a folder that exists again but is a new one: chokidar keeps its watchers of the
   * old folder and of the old files in it, and would never report anything below it again.
   */
  private readonly folderIds = new Map<string, string>();
  /** Until chokidar is ready: folder identities are taken from its walk (noteStarting). */
  private starting = false;
  private roots = new Set<string>();

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
    this.starting = true;
    this.watcher = watch(paths, {
      ignoreInitial: true,
      ignored: (file, stats) => {
        if (this.map.ignoredByAll(file)) return true;
        if (this.starting && stats?.isDirectory()) this.noteStarting(file, stats);
        return false;
      },
      // Editors save by rename; chokidar folds that into one change event.
      atomic: true,
    });
    const roots = (this.roots = new Set(paths));
    this.watcher.on('all', (event, file) => {
      this.changed(file);
      if (event === 'addDir') this.noteFolders(file);
      for (const root of roots) {
        if (file !== root && !file.startsWith(root + path.sep)) continue;
        // The root itself, or a file whose root went with it (chokidar does not always report the root).
        if ((event === 'unlinkDir' || event === 'unlink') && !existsSync(root)) this.awaitReturn(root);
        else this.checkReplaced(root);
      }
    });
    // chokidar drops real writes: one whose mtime was put back while atime > mtime (it takes it
    // for a read), and any change within 50 ms of the previous one for the same path (its change
    // throttle has no trailing edge). The kernel's own notice of every write is kept here; a
    // file reported twice is one entry of its batch, and the engine decides by content.
    this.watcher.on('raw', (event, name, opts) => {
      const watched = (opts as { watchedPath?: string } | undefined)?.watchedPath;
      if (!name || !watched) return;
      const inside = path.join(watched, name);
      const file = path.basename(watched) === name && !existsSync(inside) ? watched : inside;
      // A folder made or removed in a watched folder: is it still the folder chokidar watches?
      if (event === 'rename' || roots.has(file)) this.checkReplaced(file);
      if (this.map.ignoredByAll(file)) return;
      void lstat(file).then(
        (info) => info.isFile() && this.watcher && this.changed(file),
        () => {},
      );
    });
    this.watcher.on('error', (error) => this.onError(`file watcher: ${(error as Error).message}`));
    await new Promise<void>((resolve) => this.watcher!.once('ready', resolve));
    this.starting = false;
  }

  /**
   * While watching starts, each watched folder's identity comes from chokidar's own walk: it asks
   * `ignored` about every path with the stats it read, and the first ask about a folder (when its
   * parent is read, or the root is first looked at) comes before its watch on that folder exists.
   * So what is recorded is never newer than what chokidar watches: a folder replaced after that
   * look is seen as replaced later (checkReplaced), never the reverse. Later asks come from
   * re-reads of a parent and may see a folder that replaced the watched one: they are not
   * recorded. No walk of our own repeats chokidar's, and nothing here blocks the event loop.
   */
  private noteStarting(folder: string, stats: Stats): void {
    if (!this.folderIds.has(folder)) this.folderIds.set(folder, idOf(stats));
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

  /**
   * A watched folder that is gone or is another folder now (deleted and made again) is watched
   * afresh, and reported changed: whatever its files hold now is new. A gone folder below a root
   * is chokidar's to report (unlinkDir); made again, the next event in its parent brings it here.
   */
  private checkReplaced(folder: string): void {
    const was = this.folderIds.get(folder);
    if (was === undefined) return;
    const now = folderId(folder);
    if (now === was) return;
    if (this.roots.has(folder)) return this.awaitReturn(folder);
    if (now === undefined || !this.watcher) return;
    for (const known of [...this.folderIds.keys()]) if (isWithin(folder, known)) this.folderIds.delete(known);
    this.rewatch(folder);
    this.noteFolders(folder);
  }

  /**
   * Watches a folder afresh and reports it changed once chokidar watches it again. chokidar reads
   * the folder before it watches it, so a write in between is seen by neither: reporting the change
   * only after the watch exists makes the run it triggers read whatever was written meanwhile.
   */
  private rewatch(folder: string): void {
    if (!this.watcher) return;
    this.watcher.unwatch(folder);
    this.watcher.add(folder);
    const watcher = this.watcher as FSWatcher & { _closers?: Map<string, unknown> };
    // chokidar's own record of the folders it has a watch on (set once the watch exists).
    if (!(watcher._closers instanceof Map)) {
      this.changed(folder);
      return;
    }
    const closers = watcher._closers;
    const deadline = Date.now() + 10_000;
    const look = () => {
      if (this.watcher !== watcher) return;
      if (closers.has(folder) || Date.now() > deadline || !existsSync(folder)) this.changed(folder);
      else setTimeout(look, 5);
    };
    look();
  }

  /**
   * Records the identity of `folder` and of every watched folder below it (a folder that came or
   * came back after watching started: small, and recorded before chokidar's walk of it).
   */
  private noteFolders(folder: string): void {
    const id = folderId(folder);
    if (!id) return;
    this.folderIds.set(folder, id);
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const below = path.join(folder, entry.name);
      if (entry.isDirectory() && !this.map.ignoredByAll(below) && !this.folderIds.has(below)) this.noteFolders(below);
    }
  }

  /**
   * chokidar forgets a watch root once it is deleted (`rm -rf dist && build`, vite's
   * --emptyOutDir): it would never report anything below it again. Wait for the root to come
   * back (watching its nearest existing ancestor), then watch it afresh and report it changed:
   * whatever was written while it was gone is new to every service watching it.
   */
  private awaitReturn(root: string): void {
    if (!this.watcher || this.gone.has(root)) return;
    this.gone.set(root, undefined);
    this.goneTimer ??= setInterval(() => {
      for (const waiting of [...this.gone.keys()]) if (existsSync(waiting)) this.checks.get(waiting)?.();
    }, 250);
    const check = () => {
      if (!this.watcher || !this.gone.has(root)) return;
      if (existsSync(root)) {
        this.gone.get(root)?.close();
        this.gone.delete(root);
        this.checks.delete(root);
        if (this.gone.size === 0) {
          clearInterval(this.goneTimer);
          this.goneTimer = undefined;
        }
        for (const known of [...this.folderIds.keys()]) if (isWithin(root, known)) this.folderIds.delete(known);
        this.noteFolders(root);
        this.rewatch(root);
        return;
      }
      let ancestor = path.dirname(root);
      while (!existsSync(ancestor) && path.dirname(ancestor) !== ancestor) ancestor = path.dirname(ancestor);
      const current = this.gone.get(root) as (FolderWatcher & { folder?: string }) | undefined;
      if (current?.folder === ancestor) return;
      current?.close();
      try {
        const next = Object.assign(watchFolder(ancestor, () => check()), { folder: ancestor });
        next.on('error', () => {});
        this.gone.set(root, next);
      } catch (error) {
        this.onError(`file watcher: cannot wait for ${root} to come back: ${(error as Error).message}`);
        return;
      }
      // It may have come back between the first look and the watch.
      if (existsSync(root)) check();
    };
    this.checks.set(root, check);
    check();
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

  /** Folders whose identity is recorded (tests: every watched folder once watching has started). */
  recordedFolders(): string[] {
    return [...this.folderIds.keys()];
  }

  async stop(): Promise<void> {
    for (const batch of this.batches.values()) clearTimeout(batch.timer);
    this.batches.clear();
    for (const folder of this.gone.values()) folder?.close();
    this.gone.clear();
    this.checks.clear();
    this.folderIds.clear();
    this.starting = false;
    clearInterval(this.goneTimer);
    this.goneTimer = undefined;
    await this.watcher?.close();
    this.watcher = undefined;
  }
}

/**
 * A folder's identity, or undefined for a file or a missing path. The inode alone is not enough:
 * ext4 hands a deleted folder's inode to the next mkdir at once; the birth time tells them apart.
 */
function folderId(folder: string): string | undefined {
  try {
    const info = statSync(folder);
    return info.isDirectory() ? idOf(info) : undefined;
  } catch {
    return undefined;
  }
}

/** The same text from chokidar's stats and from our own: plain numbers (its stats are not bigint). */
function idOf(info: Stats): string {
  return `${info.dev}:${info.ino}:${info.birthtimeMs}`;
}
