import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../config/duration.js';
import { hashFile, sha256 } from '../hash.js';
import type { Stage, StageContext, StageResult, StagedFile } from '../stages/stage.js';
import { StageError } from '../stages/stage.js';
import { ensureStateFolder, STATE_DIR_NAME } from '../state-dir.js';

/** What we remember per staged file, so an unchanged artifact is neither copied nor re-hashed. */
interface ManifestEntry extends StagedFile {
  source: string;
  sourceSignature: string;
  targetSignature: string;
}
type Manifest = Record<string, ManifestEntry>;

const signature = (info: Stats) => `${info.ino}:${info.size}:${info.mtimeMs}:${info.mode}`;

export function manifestFile(root: string, service: string): string {
  return path.join(root, STATE_DIR_NAME, 'state', `${service}.staging.json`);
}

/**
 * Copies the artifacts into the staging folder (the image's whole build context). Each file is
 * written to a temp name and renamed into place, so a reader never sees half a binary; modes are
 * kept; the set hash lets the engine skip everything after this stage when nothing changed.
 */
export const stagingStage: Stage = {
  name: 'stage',
  skipReason: (ctx) => (ctx.service.stage ? undefined : 'no stage section configured'),
  async run(ctx: StageContext): Promise<StageResult> {
    const spec = ctx.service.stage!;
    const manifestPath = manifestFile(ctx.config.root, ctx.service.name);
    const previous = await readManifest(manifestPath);
    const wanted = await expandFiles(spec.files, ctx.config.root);
    await mkdir(spec.dir, { recursive: true });

    const next: Manifest = {};
    let copied = 0;
    let bytes = 0;
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
      if (!unchanged) await copyAtomically(item.from, target, mode);
      const written = unchanged ? targetInfo : await stat(target);
      next[item.to] = {
        path: item.to,
        sha256: digest,
        size: written.size,
        mode,
        source: item.from,
        sourceSignature: signature(sourceInfo),
        targetSignature: signature(written),
      };
      if (!unchanged) {
        copied++;
        bytes += written.size;
      }
    }
    // Files staged by an earlier run but no longer configured would leak into the image.
    for (const stale of Object.keys(previous)) {
      if (!next[stale]) await removeWithEmptyParents(path.join(spec.dir, stale), spec.dir);
    }
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
async function expandFiles(files: { from: string; to: string; mode?: number }[], root: string): Promise<WantedFile[]> {
  const out: WantedFile[] = [];
  for (const file of files) {
    const info = await lstat(file.from).catch(() => undefined);
    if (!info) {
      throw new StageError(`artifact not found: ${path.relative(root, file.from)} (the compile step should produce it)`, {
        hint: 'check stage.files[].from against where your build writes its output',
      });
    }
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

/** Copies to a temp name beside the target, then renames it into place (atomic on one file system). */
async function copyAtomically(from: string, target: string, mode: number): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const temp = path.join(path.dirname(target), `.tl-stage-${randomBytes(6).toString('hex')}`);
  try {
    await copyFile(from, temp); // kernel copy (copy_file_range / reflink where the file system can)
    await chmod(temp, mode);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw new StageError(`could not stage ${from}: ${(error as Error).message}`);
  }
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
