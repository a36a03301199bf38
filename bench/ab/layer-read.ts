/**
 * The image step's layer work in isolation, two checkouts alternated in one process: for each
 * size, the layer is measured (tar + diff ID, every file checked against its content hash: the
 * image step) and then made again as the upload reads it (the push pass, without the registry).
 * Use it when `npm run bench -- --only image-push` is too noisy on a loaded machine:
 *
 *   git worktree add --detach ../base main
 *   BASE=../base NEW=. node --import tsx bench/ab/layer-read.ts        # SIZES=2,20,80 REPS=15 SMALL=0
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type * as Context from '../../src/engine/docker/context/build-context.js';
import type * as Layers from '../../src/engine/docker/assembly/layers.js';
import { abRoots, load, ratio, show, type Runs } from './ab.js';

type Module = typeof Context & typeof Layers;
const roots = abRoots();
const mods = new Map<string, Module>();
for (const [name, root] of roots) {
  mods.set(name, { ...(await load<typeof Context>(root, 'src/engine/docker/context/build-context.ts')), ...(await load<typeof Layers>(root, 'src/engine/docker/assembly/layers.ts')) });
}
const sizes = (process.env.SIZES ?? '2,20,80').split(',').map(Number);
const reps = Number(process.env.REPS ?? 15);
/** Extra 2 kB files (many small files: per-file costs). */
const small = Number(process.env.SMALL ?? 0);
const step = { sources: ['.'], dest: '/app', destIsDir: true, uid: 0, gid: 0, createdBy: 'COPY . /app' };
const signal = () => new AbortController().signal;

for (const mib of sizes) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tl-ab-layer-'));
  if (mib) await writeFile(path.join(dir, 'app'), randomBytes(mib * 1024 * 1024));
  for (let i = 0; i < small; i++) await writeFile(path.join(dir, `s${i}.txt`), randomBytes(2000));
  const runs: Record<string, Runs> = {};
  // One unmeasured round; then the order alternates, so drift hits both checkouts alike.
  for (let i = -1; i < reps; i++) {
    const order = i % 2 ? [...roots.keys()] : [...roots.keys()].reverse();
    for (const name of order) {
      const m = mods.get(name)!;
      const listing = await m.listStaging(dir, signal());
      await m.hashContext(listing, new Map(), signal());
      const recipe = m.copyLayer(step, listing.entries);
      let t = performance.now();
      const layer = await m.measureLayer(recipe, 'none', signal());
      const image = performance.now() - t;
      t = performance.now();
      for await (const chunk of m.openLayer(layer, signal())) void chunk;
      const push = performance.now() - t;
      if (i < 0) continue;
      const r = (runs[name] ??= { 'image step': [], 'push-pass read': [], both: [] });
      r['image step']!.push(image);
      r['push-pass read']!.push(push);
      r.both!.push(image + push);
    }
  }
  const label = `${mib} MiB${small ? ` + ${small} × 2 kB` : ''}`;
  for (const name of roots.keys()) console.log(`${label} ${name}: ${show(runs[name]!)}`);
  console.log(`${label} ${ratio(runs)}`);
  await rm(dir, { recursive: true });
}
