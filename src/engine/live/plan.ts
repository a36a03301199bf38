import path from 'node:path';
import picomatch from 'picomatch';
import { formatBytes } from '../../shared/format.js';
import type { ResolvedService } from '../config/resolved.js';
import type { StagedFile } from '../stages/stage.js';
import type { SyncFile } from './sync.js';

type Live = NonNullable<ResolvedService['live']>;

/** What one pod runs: container path → sha256, from its image plus every sync into it. */
export type PodContent = Record<string, string>;

export type LivePlan =
  | { kind: 'live'; files: SyncFile[]; bytes: number; deltaBytes: number }
  | { kind: 'fallback'; reason: string };

/** The container path a staged path syncs to, or undefined when no live.sync mapping covers it. */
export function containerPathOf(live: Live, stagedPath: string): string | undefined {
  let best: { from: string; to: string } | undefined;
  for (const m of live.sync) {
    const covers = m.from === '.' || stagedPath === m.from || stagedPath.startsWith(`${m.from}/`);
    if (covers && (!best || m.from.length > best.from.length)) best = m;
  }
  if (!best) return undefined;
  if (best.from === '.') return path.posix.join(best.to, stagedPath);
  return stagedPath === best.from ? best.to : path.posix.join(best.to, stagedPath.slice(best.from.length + 1));
}

/** What the image holds at the synced paths (the starting content of every new pod). */
export function imageContent(live: Live, imageFiles: readonly StagedFile[]): PodContent {
  const content: PodContent = {};
  for (const f of imageFiles) {
    const to = containerPathOf(live, f.path);
    if (to) content[to] = f.sha256;
  }
  return content;
}

/**
 * Decides whether this run's staged files can reach a pod by live sync, and which files it must
 * get. Falls back (with the one sentence the user sees) when a changed file matches
 * live.fallBackOn, a changed or removed staged file is not covered by live.sync, or the pod would
 * drift from its image by more than live.maxDelta.
 */
export function planLiveSync(args: {
  live: Live;
  root: string;
  stagingDir: string;
  staged: readonly StagedFile[];
  /** The staged files of the image the pods run. */
  imageFiles: readonly StagedFile[];
  /** What the pod runs now (imageContent(...) for a pod never synced). */
  pod: PodContent;
  /** Absolute paths that changed in this run's trigger. */
  changedFiles: readonly string[];
}): LivePlan {
  const { live, staged, imageFiles, pod } = args;
  if (live.fallBackOn.length) {
    const match = picomatch(live.fallBackOn, { dot: true });
    const hit = args.changedFiles.map((f) => path.relative(args.root, f).split(path.sep).join('/')).find((rel) => match(rel));
    if (hit) return { kind: 'fallback', reason: `${hit} changed and matches live.fallBackOn` };
  }
  const inImage = new Map(imageFiles.map((f) => [f.path, f]));
  const files: SyncFile[] = [];
  let bytes = 0;
  let deltaBytes = 0;
  for (const f of staged) {
    const to = containerPathOf(live, f.path);
    const image = inImage.get(f.path);
    inImage.delete(f.path);
    if (!to) {
      if (image?.sha256 === f.sha256 && image.mode === f.mode) continue;
      return { kind: 'fallback', reason: `${f.path} ${image ? 'changed' : 'is new'} and is not covered by live.sync` };
    }
    if (image?.sha256 !== f.sha256) deltaBytes += f.size;
    if (pod[to] === f.sha256) continue;
    files.push({ source: path.join(args.stagingDir, f.path), path: to, mode: f.mode, size: f.size, sha256: f.sha256 });
    bytes += f.size;
  }
  const removed = [...inImage.keys()][0];
  if (removed) return { kind: 'fallback', reason: `${removed} is no longer staged (a live update only adds and replaces files)` };
  if (deltaBytes > live.maxDeltaBytes) {
    return { kind: 'fallback', reason: `the pods would differ from their image by ${formatBytes(deltaBytes)}, more than live.maxDelta (${formatBytes(live.maxDeltaBytes)})` };
  }
  return { kind: 'live', files, bytes, deltaBytes };
}
