import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hashInputs } from '../../hash.js';
import { ensureStateFolder, STATE_DIR_NAME } from '../../state-dir.js';
import { formatBytes, formatDuration } from '../../../shared/format.js';
import { LAYER_MEDIA_TYPE, measureLayer, type LayerBlob, type LayerCompression, type LayerRecipe } from './layers.js';

/** What a layer blob is, remembered by its key: enough to name it in a manifest without making it. */
interface Remembered {
  digest: string;
  diffId: string;
  size: number;
}

/** Keys remembered per service; the oldest go first. */
const MAX_ENTRIES = 256;

/**
 * Content-keyed layers: a layer's key is what decides its bytes — every entry's path, type, mode,
 * owner, size and content hash (the stage step's hashes, so nothing is read again), the compression,
 * and an image.layers entry's key files. A known key names the blob (digest, diff ID, size) with
 * no tar, no gzip and no upload (the registry already has it; if it lost it, the push makes the
 * bytes again from the same files). Kept in .tightloop/state/<service>.layers.json across runs.
 */
export class LayerMemo {
  private known: Map<string, Remembered> | undefined;
  private dirty = false;

  constructor(
    private readonly root: string,
    private readonly service: string,
  ) {}

  get file(): string {
    return path.join(this.root, STATE_DIR_NAME, 'state', `${this.service}.layers.json`);
  }

  /** The layer's blob: remembered when its key is known, else measured (tar + hash, gzip) and remembered. */
  async measure(recipe: LayerRecipe, compression: LayerCompression, signal: AbortSignal, log: (text: string) => void): Promise<LayerBlob> {
    const started = performance.now();
    const known = await this.load();
    const key = await this.keyOf(recipe, compression);
    const label = recipe.declared?.name ?? recipe.createdBy;
    const hit = key === undefined ? undefined : known.get(key);
    if (hit) {
      // Refreshed as most recently used.
      known.delete(key!);
      known.set(key!, hit);
      log(`layer ${label}: reused ${hit.digest.slice(7, 19)} (${formatBytes(hit.size)}, key unchanged): no tar, no upload`);
      return { recipe, compression, mediaType: LAYER_MEDIA_TYPE[compression], ...hit };
    }
    const blob = await measureLayer(recipe, compression, signal);
    if (key !== undefined) {
      known.set(key, { digest: blob.digest, diffId: blob.diffId, size: blob.size });
      while (known.size > MAX_ENTRIES) known.delete(known.keys().next().value!);
      this.dirty = true;
    }
    log(`layer ${label}: rebuilt ${blob.digest.slice(7, 19)} (${formatBytes(blob.size)}) in ${formatDuration(performance.now() - started)}`);
    return blob;
  }

  /** Writes the remembered keys (atomically); a failure only costs a rebuild next time. */
  async save(): Promise<void> {
    if (!this.dirty || !this.known) return;
    this.dirty = false;
    try {
      await ensureStateFolder(this.root, path.dirname(this.file));
      await mkdir(path.dirname(this.file), { recursive: true });
      const temp = `${this.file}.tmp-${process.pid}`;
      await writeFile(temp, JSON.stringify(Object.fromEntries(this.known)));
      await rename(temp, this.file);
    } catch {
      // not saved: the layers are measured again next run
    }
  }

  private async load(): Promise<Map<string, Remembered>> {
    if (!this.known) {
      let stored: Record<string, Remembered> = {};
      try {
        stored = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, Remembered>;
      } catch {
        // none yet, or unreadable: start empty
      }
      // Read from disk: any entry may be anything, whatever its type says.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      this.known ??= new Map(Object.entries(stored).filter(([, v]) => typeof v?.digest === 'string' && typeof v.diffId === 'string' && typeof v.size === 'number'));
    }
    return this.known;
  }

  /** Undefined when some file's content hash is unknown (then the layer is always measured). */
  private async keyOf(recipe: LayerRecipe, compression: LayerCompression): Promise<string | undefined> {
    const hash = createHash('sha256').update(`tightloop-layer v1\n${compression}\n`);
    for (const e of recipe.entries) {
      if (e.type === 'file' && !e.sha256) return undefined;
      hash.update(`${e.type}\0${e.name}\0${e.mode.toString(8)}\0${e.uid}:${e.gid}\0${e.size}\0${e.sha256 ?? e.linkname ?? ''}\n`);
    }
    if (recipe.declared?.key?.length) hash.update(`key ${await hashInputs(this.root, recipe.declared.key, 'layer-key')}\n`);
    return hash.digest('hex');
  }
}
