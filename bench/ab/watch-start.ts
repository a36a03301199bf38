/**
 * Starting the file watcher on a tree of watched folders, two checkouts alternated in one process:
 * time until it watches, how long after start() the event loop first turns (a synchronous walk of
 * the tree sits there), and the longest event-loop stall while starting (chokidar's own included).
 *
 *   BASE=../base NEW=. node --import tsx bench/ab/watch-start.ts        # FOLDERS=5000 REPS=7
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type * as Load from '../../src/engine/config/load.js';
import type * as Watch from '../../src/engine/watch/file-watcher.js';
import { abRoots, load, ratio, show, type Runs } from './ab.js';

type Module = typeof Load & typeof Watch;
const roots = abRoots();
const mods = new Map<string, Module>();
for (const [name, root] of roots) {
  mods.set(name, { ...(await load<typeof Load>(root, 'src/engine/config/load.ts')), ...(await load<typeof Watch>(root, 'src/engine/watch/file-watcher.ts')) });
}
const folders = Number(process.env.FOLDERS ?? 5000);
const reps = Number(process.env.REPS ?? 7);

const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-ab-watch-'));
const perFolder = Math.ceil(Math.sqrt(folders));
for (let made = 0, a = 0; made < folders; a++) {
  mkdirSync(path.join(dir, `src/a${a}`), { recursive: true });
  writeFileSync(path.join(dir, `src/a${a}/f.txt`), 'x');
  for (let b = 0; b < perFolder && made < folders; b++, made++) mkdirSync(path.join(dir, `src/a${a}/b${b}`));
}
const yaml = 'version: 1\nservices:\n  api:\n    watch: { paths: [src] }\n    compile: { command: "true" }\n';
const file = path.join(dir, 'tightloop.yaml');
writeFileSync(file, yaml);

const runs: Record<string, Runs> = {};
try {
  for (let i = -1; i < reps; i++) {
    const order = i % 2 ? [...roots.keys()] : [...roots.keys()].reverse();
    for (const name of order) {
      const m = mods.get(name)!;
      const { config } = m.parseConfigText(yaml, file);
      const watcher = new m.SourceWatcher(new m.ServiceFileMap(config!), 30, () => {}, () => {});
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      let firstTurn = NaN;
      const t0 = performance.now();
      setImmediate(() => (firstTurn = performance.now() - t0));
      await watcher.start();
      const watching = performance.now() - t0;
      delay.disable();
      await watcher.stop();
      if (i < 0) continue;
      const r = (runs[name] ??= { watching: [], 'first turn of the loop': [], 'longest stall': [] });
      r.watching!.push(watching);
      r['first turn of the loop']!.push(firstTurn);
      r['longest stall']!.push(delay.max / 1e6);
    }
  }
  for (const name of roots.keys()) console.log(`${folders} folders ${name}: ${show(runs[name]!)}`);
  console.log(`${folders} folders ${ratio(runs)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
