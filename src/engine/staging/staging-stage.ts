import type { Stats } from 'node:fs';
import { chmod, copyFile, link, lstat, mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../../shared/format.js';
import { hashFile, RACY_MS, sha256 } from '../hash.js';
import type { Stage, StageContext, StageResult, StagedFile } from '../stages/stage.js';
import { StageError } from '../stages/stage.js';
import { platformStageFiles } from './platform-files.js';
import { ensureStateFolder, STATE_DIR_NAME } from '../state-dir.js';
import { symlinkEscape } from '../workspace-paths.js';

/** What we remember per staged file, so an unchanged artifact is neither copied nor re-hashed. */
interface ManifestEntry extends StagedFile {
  source: string;
  sourceSignature: string;
  targetSignature: string;
}
type Manifest = Record<string, ManifestEntry>;

// ctime too: `cp -p` and `rsync -t` put mtime back after a same-size write, but no tool can set ctime.
const signature = (info: Stats) => `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}:${info.mode}`;

export function manifestFile(root: string, service: string): string {
  return path.join(root, STATE_DIR_NAME, 'state', `${service}.staging.json`);
}

/**
 * Copies the artifacts into the staging folder (the image's whole build context). A changed set is
 * built in a folder outside the context and swapped in whole (see swapIn), so an interrupted run
 * leaves the previous folder as it was; modes are kept; the set hash lets the engine skip
 * everything after this stage when nothing changed.
 */
export const stagingStage: Stage = {
  name: 'staging',
  skipReason: (ctx) => (ctx.service.stage ? undefined : 'no stage section configured'),
  async run(ctx: StageContext): Promise<StageResult> {
    const spec = ctx.service.stage!;
    const manifestPath = manifestFile(ctx.config.root, ctx.service.name);
    const previous = await readManifest(manifestPath);
    // Checked again here, not only when the config loaded: links change, artifacts appear later.
    const escape = (target: string, what: string) => {
      const refusal = ctx.config.settings.followSymlinksOutsideWorkspace ? undefined : symlinkEscape(ctx.config.root, target, what);
      if (refusal) throw new StageError(refusal);
    };
    escape(spec.dir, 'the staging folder');
    const listedAt = Date.now();
    const wanted = await expandFiles(platformStageFiles(ctx.service), ctx.config.root, escape);
    // A source changed within RACY_MS of the listing may be written again in the same clock tick
    // with the same size: its signature then vouches for nothing, and it is hashed again next run.
    const sourceSignature = (info: Stats) => (info.ctimeMs < listedAt - RACY_MS ? signature(info) : '');

    const next: Manifest = {};
    /** Entries whose bytes or mode change: they are copied, the others are kept as they are. */
    const changed: WantedFile[] = [];
    for (const item of wanted) {
      if (ctx.signal.aborted) throw new StageError('cancelled');
      const sourceInfo = item.info;
      const target = path.join(spec.dir, item.to);
      const mode = item.mode ?? sourceInfo.mode & 0o7777;
      const old = previous[item.to];
      const targetInfo = await stat(target).catch(() => undefined);
      if (old && old.source === item.from && old.sourceSignature === signature(sourceInfo) && old.mode === mode && targetInfo && signature(targetInfo) === old.targetSignature) {
        next[item.to] = old;
        continue;
      }
      // The compiler rewrote the file (new mtime) but often with the same bytes: hash before
      // copying, and keep the staged file when it is already identical.
      const digest = await hashFile(item.from);
      const unchanged = old && old.sha256 === digest && old.mode === mode && targetInfo && signature(targetInfo) === old.targetSignature;
      next[item.to] = {
        path: item.to,
        sha256: digest,
        size: unchanged ? targetInfo.size : sourceInfo.size,
        mode,
        source: item.from,
        sourceSignature: sourceSignature(sourceInfo),
        targetSignature: unchanged ? old.targetSignature : '',
      };
      if (!unchanged) changed.push({ ...item, mode });
    }
    // Files staged by an earlier run but no longer configured would leak into the image.
    const stale = Object.keys(previous).filter((p) => !next[p]);
    const copied = changed.length;
    let bytes = 0;
    if (changed.length > 0 || stale.length > 0) {
      bytes = await swapIn(ctx, spec.dir, next, changed);
    }
    // The folder is the image's build context: anything besides the declared files (left by an
    // earlier config, a lost manifest, a copy cut short, a hand-made file) would ship. Remove it.
    const strays = await removeStrays(spec.dir, new Set(Object.keys(next)));
    if (strays.length) ctx.log(`removed ${strays.length} stray file(s) from ${spec.dir}: ${strays.slice(0, 5).join(', ')}${strays.length > 5 ? '…' : ''}`, 'info');
    await ensureStateFolder(ctx.config.root, path.dirname(manifestPath));
    await writeFile(manifestPath, JSON.stringify(next));

    const stagedFiles: StagedFile[] = Object.values(next)
      .map(({ path: p, sha256: s, size, mode }) => ({ path: p, sha256: s, size, mode }))
      .sort((a, b) => a.path.localeCompare(b.path));
    const stagingHash = sha256(stagedFiles.map((f) => `${f.path}\0${f.mode.toString(8)}\0${f.sha256}\n`).join(''));
    const total = stagedFiles.reduce((sum, f) => sum + f.size, 0);
    ctx.log(`staged ${stagedFiles.length} file(s), ${formatBytes(total)} (${copied} copied, ${formatBytes(bytes)}) → ${spec.dir}`, 'info');
    return {
      detail: `${stagedFiles.length} file(s), ${formatBytes(total)}, set ${stagingHash.slice(0, 12)}${copied === 0 ? ', nothing copied' : ''}`,
      outputs: { stagingDir: spec.dir, stagingHash, stagedFiles },
    };
  },
};

interface WantedFile {
  from: string;
  to: string;
  mode?: number;
  info: Stats;
}

/** Resolves each configured entry; a folder stages every file below it. */
async function expandFiles(files: { from: string; to: string; mode?: number }[], root: string, escape: (target: string, what: string) => void): Promise<WantedFile[]> {
  const out: WantedFile[] = [];
  for (const file of files) {
    const info = await lstat(file.from).catch(() => undefined);
    if (!info) {
      throw new StageError(`artifact not found: ${path.relative(root, file.from)} (the compile step should produce it)`, {
        hint: 'check stage.files[].from against where your build writes its output',
      });
    }
    escape(file.from, 'the artifact');
    if (info.isDirectory()) {
      for (const entry of await readdir(file.from, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const absolute = path.join(entry.parentPath, entry.name);
        const relative = path.relative(file.from, absolute).split(path.sep).join('/');
        out.push({ from: absolute, to: path.posix.join(file.to, relative), mode: file.mode, info: await stat(absolute) });
      }
    } else {
      out.push({ ...file, info: info.isSymbolicLink() ? await stat(file.from) : info });
    }
  }
  return out;
}

/**
 * Builds the next staging folder outside the build context (in .tightloop/tmp, or beside the
 * folder when that is another file system), then swaps it in with two renames: a reader sees the
 * old folder or the new one, never a mix, and no temp file is ever inside the context. Unchanged
 * files are hard-linked from the current folder (no copy). Fills in each entry's target signature
 * and returns the bytes copied.
 */
async function swapIn(ctx: StageContext, dir: string, next: Manifest, changed: WantedFile[]): Promise<number> {
  const { building, old } = await swapPaths(ctx, dir);
  await rm(building, { recursive: true, force: true });
  await mkdir(building, { recursive: true });
  const byTarget = new Map(changed.map((c) => [c.to, c]));
  let bytes = 0;
  try {
    for (const entry of Object.values(next)) {
      if (ctx.signal.aborted) throw new StageError('cancelled');
      const target = path.join(building, entry.path);
      await mkdir(path.dirname(target), { recursive: true });
      const change = byTarget.get(entry.path);
      if (change) {
        await copyFile(change.from, target); // kernel copy (copy_file_range / reflink where the file system can)
        await chmod(target, entry.mode);
      } else {
        await link(path.join(dir, entry.path), target).catch(() => copyFile(path.join(dir, entry.path), target));
      }
      const written = await stat(target);
      if (change) bytes += written.size;
      entry.size = written.size;
      entry.targetSignature = signature(written);
    }
    await rm(old, { recursive: true, force: true });
    const hadFolder = await rename(dir, old).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
    await mkdir(path.dirname(dir), { recursive: true });
    await rename(building, dir);
    if (hadFolder) await rm(old, { recursive: true, force: true });
  } catch (error) {
    await rm(building, { recursive: true, force: true }).catch(() => {});
    if (error instanceof StageError) throw error;
    throw new StageError(`could not stage into ${dir}: ${(error as Error).message}`);
  }
  return bytes;
}

/**
 * Where the next folder is built and the current one parked during the swap. A swap cut short
 * (SIGKILL between the two renames) is finished here first: the parked folder is put back.
 */
async function swapPaths(ctx: StageContext, dir: string): Promise<{ building: string; old: string }> {
  const tmp = path.join(ctx.config.root, STATE_DIR_NAME, 'tmp');
  await ensureStateFolder(ctx.config.root, tmp);
  const sameDevice = (await stat(tmp)).dev === (await stat(path.dirname(dir)).catch(() => stat(ctx.config.root))).dev;
  const base = sameDevice ? path.join(tmp, ctx.service.name) : path.join(path.dirname(dir), `.${path.basename(dir)}.tightloop`);
  const paths = { building: `${base}.stage-next`, old: `${base}.stage-old` };
  const parked = await stat(paths.old).catch(() => undefined);
  if (parked && !(await stat(dir).catch(() => undefined))) await rename(paths.old, dir);
  return paths;
}

/** Removes every file (and then empty folder) below `dir` that is not one of `keep` (paths relative to dir). */
async function removeStrays(dir: string, keep: Set<string>): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) continue;
    const absolute = path.join(entry.parentPath, entry.name);
    const relative = path.relative(dir, absolute).split(path.sep).join('/');
    if (keep.has(relative)) continue;
    await removeWithEmptyParents(absolute, dir);
    removed.push(relative);
  }
  // Folders left empty by an earlier config (deepest first).
  const folders = entries.filter((e) => e.isDirectory()).map((e) => path.join(e.parentPath, e.name));
  for (const folder of folders.sort((a, b) => b.length - a.length)) await rmdir(folder).catch(() => {});
  return removed;
}

/** Removes a file and then each parent folder that became empty, up to (not including) `root`. */
async function removeWithEmptyParents(file: string, root: string): Promise<void> {
  await rm(file, { force: true });
  for (let dir = path.dirname(file); dir !== root && dir.startsWith(root); dir = path.dirname(dir)) {
    try {
      await rmdir(dir);
    } catch {
      return; // not empty (or gone): stop climbing
    }
  }
}

async function readManifest(file: string): Promise<Manifest> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Manifest;
  } catch {
    return {};
  }
}
