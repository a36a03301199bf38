import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/config/load.js';
import { Engine } from '../../src/engine/engine.js';
import { createIntegrations } from '../../src/engine/integrations.js';
import type { EngineEvent, RunSummary } from '../../src/engine/types.js';
import { ensureServices, REGISTRY, tempDir, uniqueName } from './helpers.js';
import { imageFiles } from './registry-image.js';
import { seeded } from '../helpers/seeded.js';

/**
 * Model-based test (issue 10): seeded random sequences of edits against the real watcher, real
 * files, real processes, the real Docker engine and registry. The workspace has four services
 * sharing watched files: a context-mode image (`ctx`, whole repo filtered by .dockerignore with
 * "!" rules), a staged image (`stg`), an auto compile-only service (`web`) and a manual one
 * (`man`). Steps: edits, same-size edits with the mtime put back, folders (and a watch root)
 * deleted and recreated, bursts, cancels, pauses. At each quiet point, for every service:
 *  - the image it last delivered, read back from the registry, holds exactly the current tree
 *    (and, at the end of a seed, its tag equals the one a from-scratch engine computes);
 *  - no two runs of one service overlapped;
 *  - no service ran without a reason (every watch/save run names files the model touched);
 *  - auto services ran after the last change to what they watch; the manual one says "pending".
 *
 * Seeds 1-4 run in the suite, 200 steps each (15-25 s per seed on 2 cores). Bounded in time: the
 * steps of all seeds share STEP_BUDGET_MS (a seed gets what is left divided by the seeds left),
 * so a heavily loaded machine runs fewer steps instead of timing out, and says how many ran.
 * TIGHTLOOP_MODEL_SEEDS (e.g. 1-40 or 7,9), TIGHTLOOP_MODEL_STEPS and TIGHTLOOP_MODEL_BUDGET_MS
 * run more.
 */

const SEEDS = parseSeeds(process.env.TIGHTLOOP_MODEL_SEEDS ?? '1-4');
const STEP_BUDGET_MS = Number(process.env.TIGHTLOOP_MODEL_BUDGET_MS ?? (process.env.TIGHTLOOP_MODEL_SEEDS ? 3_600_000 : 100_000));
/** Beyond its steps, a seed's final quiet point and from-scratch build; past that it is a hang. */
const SEED_SLACK_MS = 45_000;
const fileStarted = Date.now();

function parseSeeds(text: string): number[] {
  return text.split(',').filter(Boolean).flatMap((part) => {
    const [from, to] = part.split('-').map(Number);
    return to === undefined ? [from!] : Array.from({ length: to - from! + 1 }, (_, i) => from! + i);
  });
}
/** How long a quiet point may wait for every change to have reached its services. */
const SETTLE_LIMIT_MS = 15_000;
const STEPS = Number(process.env.TIGHTLOOP_MODEL_STEPS ?? 200);

const config = (repo: string) => `version: 1
docker: { delivery: push }
settings: { quietWindowMs: 15, parallelism: 2 }
services:
  ctx:
    watch: { paths: [shared, ctxsrc, ctx.Dockerfile] }
    compile: { command: "mkdir -p out/ctx && echo built > out/ctx/marker" }
    stage: { dir: staged-ctx, files: [{ from: out/ctx/marker, to: marker }] }
    image: { repository: ${repo}/ctx, context: ., dockerfile: ctx.Dockerfile }
  stg:
    onChange: restart
    watch: { paths: [shared, stgsrc] }
    compile: { command: "mkdir -p out/stg && cp -p shared/proto.txt out/stg/proto.txt && rm -rf out/stg/src && cp -rp stgsrc out/stg/src" }
    stage: { dir: staged-stg, files: [{ from: out/stg, to: app }] }
    image: { repository: ${repo}/stg }
  web:
    onChange: queue
    watch: { paths: [shared] }
    compile: { command: "cat shared/proto.txt > /dev/null" }
  man:
    trigger: manual
    watch: { paths: [shared] }
    compile: { command: "true" }
`;

/** Regular files below `dir` (relative posix path → content). */
function treeOf(dir: string, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const abs = path.join(entry.parentPath, entry.name);
    out.set(path.posix.join(prefix, path.relative(dir, abs).split(path.sep).join('/')), readFileSync(abs, 'utf8'));
  }
  return out;
}

const only = (files: Map<string, string>, prefixes: string[]) => new Map([...files].filter(([p]) => prefixes.some((x) => p === x || p.startsWith(x + '/'))));

class Model {
  readonly events: EngineEvent[] = [];
  /** Absolute paths the model wrote, deleted or recreated, with when. */
  private readonly touches: { file: string; at: number }[] = [];
  private segmentStart = 0;
  private counter = 0;

  /** Timestamped events and touches, for the failure report. */
  private readonly trace: string[] = [];

  constructor(
    readonly dir: string,
    readonly engine: Engine,
    private readonly random: () => number,
  ) {
    engine.on((event) => {
      this.events.push(event);
      const line = describeEvent(event, dir);
      if (line) this.trace.push(`${new Date().toISOString().slice(17)} ${line}`);
    });
  }

  /** The last lines of what happened (events and touches, in order), to show when a check fails. */
  recentTrace(count = 60): string {
    return this.trace.slice(-count).join('\n');
  }

  private pick<T>(items: T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private touch(relative: string): void {
    this.touches.push({ file: path.join(this.dir, relative), at: Date.now() });
    this.trace.push(`${new Date().toISOString().slice(17)} touch ${relative}`);
  }

  private content(): string {
    // Varying lengths, so most edits change the size; same-size edits are a step of their own.
    return `v${++this.counter}-${'x'.repeat(Math.floor(this.random() * 8))}\n`;
  }

  private filesUnder(relative: string): string[] {
    const abs = path.join(this.dir, relative);
    if (!existsSync(abs)) return [];
    return readdirSync(abs, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.relative(this.dir, path.join(e.parentPath, e.name)));
  }

  write(relative: string, text = this.content()): void {
    mkdirSync(path.dirname(path.join(this.dir, relative)), { recursive: true });
    writeFileSync(path.join(this.dir, relative), text);
    this.touch(relative);
  }

  /** Same size, mtime put back to the nanosecond (`cp -p`, `rsync -t`), in one synchronous go. */
  sameSizeRestored(relative: string): void {
    const abs = path.join(this.dir, relative);
    const ref = path.join(this.dir, '.refs', 'times');
    mkdirSync(path.dirname(ref), { recursive: true });
    execFileSync('cp', ['-p', abs, ref]);
    const old = readFileSync(abs, 'utf8');
    writeFileSync(abs, (old.startsWith('v') ? 'w' : 'v') + old.slice(1));
    execFileSync('touch', ['-r', ref, abs]);
    this.touch(relative);
  }

  async recreate(relative: string, slowly: boolean): Promise<void> {
    rmSync(path.join(this.dir, relative), { recursive: true, force: true });
    this.touch(relative);
    if (slowly) await sleep(50 + Math.floor(this.random() * 150));
    mkdirSync(path.join(this.dir, relative), { recursive: true });
    const count = 1 + Math.floor(this.random() * 3);
    for (let i = 0; i < count; i++) this.write(path.join(relative, `r${i}.txt`));
  }

  async step(): Promise<string> {
    const r = this.random();
    const source = () => this.pick(['shared', 'ctxsrc', 'stgsrc', 'stgsrc/gen']);
    if (r < 0.3) {
      const where = source();
      const existing = this.filesUnder(where);
      const file = existing.length && this.random() < 0.7 ? this.pick(existing) : path.join(where, `f${Math.floor(this.random() * 4)}.txt`);
      this.write(file);
      return `write ${file}`;
    }
    if (r < 0.4) {
      const candidates = ['shared', 'ctxsrc', 'stgsrc'].flatMap((d) => this.filesUnder(d));
      if (!candidates.length) return 'noop';
      const file = this.pick(candidates);
      this.sameSizeRestored(file);
      return `same-size+mtime ${file}`;
    }
    if (r < 0.47) {
      const which = this.pick(['stgsrc/gen', 'ctxsrc', 'stgsrc']);
      const slowly = this.random() < 0.5;
      await this.recreate(which, slowly);
      return `recreate ${which}${slowly ? ' slowly' : ''}`;
    }
    if (r < 0.52) {
      const file = path.join(source(), 'burst.txt');
      for (let i = 0; i < 20; i++) this.write(file);
      return `burst ${file}`;
    }
    if (r < 0.56) {
      const name = this.pick(['ctx', 'stg', 'web']);
      this.engine.cancel(name);
      return `cancel ${name}`;
    }
    if (r < 0.6) {
      const candidates = ['ctxsrc', 'stgsrc', 'shared'].flatMap((d) => this.filesUnder(d)).filter((f) => !f.endsWith('proto.txt'));
      if (!candidates.length) return 'noop';
      const file = this.pick(candidates);
      rmSync(path.join(this.dir, file));
      this.touch(file);
      return `delete ${file}`;
    }
    if (r < 0.93) {
      await sleep(Math.floor(this.random() * 60));
      return 'pause';
    }
    await this.quietPoint();
    return 'quiet point';
  }

  /**
   * Waits for the state the checks judge, not for a time: nothing runs, every auto service has a
   * run that started after the last change to what it watches (or its last run was cancelled by
   * the model, to be asked for again), and the manual one shows a shared change as pending.
   * Bounded: past SETTLE_LIMIT_MS the checks below say what never happened.
   */
  private async settle(): Promise<void> {
    const deadline = Date.now() + SETTLE_LIMIT_MS;
    for (;;) {
      await this.engine.whenIdle();
      if ((this.caughtUp() && !this.engine.status().some((s) => s.running)) || Date.now() > deadline) return;
      await sleep(20);
    }
  }

  private caughtUp(): boolean {
    for (const service of ['ctx', 'stg', 'web']) {
      const lastTouch = this.lastTouchFor(service);
      if (lastTouch === undefined || this.cancelledByUs(service)) continue;
      const started = this.events.flatMap((e) => (e.type === 'run-started' && e.service === service ? [e.startedAt] : [])).at(-1);
      if (started === undefined || started < lastTouch) return false;
    }
    return !this.sharedTouched() || this.engine.status().find((s) => s.name === 'man')!.pendingChanges.length > 0;
  }

  /** The service's last run ended because the model cancelled it (not superseded by a change). */
  private cancelledByUs(service: string): boolean {
    const last = this.lastFinished(service);
    return last?.status === 'cancelled' && /cancelled by user/.test(last.error ?? '');
  }

  private sharedTouched(): boolean {
    return this.touches.some((t) => t.at >= this.segmentStart && t.file.startsWith(path.join(this.dir, 'shared')));
  }

  runs(service: string): RunSummary[] {
    return this.events.flatMap((e) => (e.type === 'run-finished' && e.summary.service === service && e.summary.records.length > 0 ? [e.summary] : []));
  }

  async quietPoint(): Promise<void> {
    await this.settle();
    // A run cancelled on purpose may leave changes undelivered; Tightloop said why (cancelled).
    // Ask for it again, as a user would, and everything must be current afterwards.
    const redo = ['ctx', 'stg', 'web'].filter((s) => this.cancelledByUs(s));
    if (redo.length) {
      await this.engine.run(redo);
      await this.settle();
    }
    this.checkOverlap();
    this.checkReasons();
    for (const service of ['ctx', 'stg', 'web']) {
      const last = this.runs(service).at(-1);
      const lastTouch = this.lastTouchFor(service);
      if (lastTouch === undefined) continue;
      assert.ok(last, `${service}: never ran although its files changed`);
      assert.equal(last.status, 'ok', `${service}: last run ${last.status}: ${last.error}`);
      assert.ok(last.startedAt >= lastTouch, `${service}: the last change (${new Date(lastTouch).toISOString()}) came after its last run started (${new Date(last.startedAt).toISOString()})`);
    }
    await this.checkImages();
    if (this.sharedTouched()) {
      const man = this.engine.status().find((s) => s.name === 'man')!;
      assert.ok(man.pendingChanges.length > 0, 'man (trigger: manual) must show the shared change as pending');
      assert.equal(man.waiting?.kind, 'manual');
      if (this.random() < 0.5) await this.engine.run(['man']);
    }
    this.segmentStart = Date.now();
  }

  private lastFinished(service: string): RunSummary | undefined {
    return this.events.flatMap((e) => (e.type === 'run-finished' && e.summary.service === service ? [e.summary] : [])).at(-1);
  }

  private watchRoots(service: string): string[] {
    return this.engine.config.services[service]!.watch!.paths;
  }

  private lastTouchFor(service: string): number | undefined {
    const roots = this.watchRoots(service);
    const mine = this.touches.filter((t) => roots.some((r) => t.file === r || t.file.startsWith(r + '/')));
    return mine.at(-1)?.at;
  }

  private checkOverlap(): void {
    for (const service of ['ctx', 'stg', 'web', 'man']) {
      let running: string | undefined;
      for (const e of this.events) {
        if (e.type === 'run-started' && e.service === service) {
          assert.equal(running, undefined, `${service}: run ${e.runId} started while ${running} was running`);
          running = e.runId;
        } else if (e.type === 'run-finished' && e.summary.service === service && e.summary.runId === running) running = undefined;
      }
    }
  }

  private checkReasons(): void {
    for (const e of this.events) {
      if (e.type !== 'run-started' || (e.trigger.reason !== 'watch' && e.trigger.reason !== 'save')) continue;
      const roots = this.watchRoots(e.service);
      assert.ok(e.trigger.changedFiles.length > 0, `${e.service}: a ${e.trigger.reason} run without changed files`);
      for (const file of e.trigger.changedFiles) {
        assert.ok(roots.some((r) => file === r || file.startsWith(r + '/')), `${e.service}: ran for ${file}, which it does not watch`);
      }
      const touched = e.trigger.changedFiles.some((file) => this.touches.some((t) => t.file === file || file.startsWith(t.file + '/') || t.file.startsWith(file + '/')));
      assert.ok(touched, `${e.service}: ran for ${e.trigger.changedFiles.join(', ')}, which the model never touched`);
    }
  }

  private async checkImages(): Promise<void> {
    const tree = new Map([...treeOf(path.join(this.dir, 'shared'), 'shared'), ...treeOf(path.join(this.dir, 'ctxsrc'), 'ctxsrc')]);
    const ctx = this.runs('ctx').at(-1);
    if (ctx?.image) assert.deepEqual(only(await imageFiles(ctx.image), ['shared', 'ctxsrc']), tree, `ctx: the delivered image ${ctx.image} is not the current tree`);
    const stg = this.runs('stg').at(-1);
    if (stg?.image) {
      const expected = new Map([['app/proto.txt', readFileSync(path.join(this.dir, 'shared/proto.txt'), 'utf8')], ...treeOf(path.join(this.dir, 'stgsrc'), 'app/src')]);
      assert.deepEqual(only(await imageFiles(stg.image), ['app']), expected, `stg: the delivered image ${stg.image} is not the current tree`);
    }
  }
}

function describeEvent(event: EngineEvent, dir: string): string | undefined {
  const rel = (files: string[]) => files.map((f) => path.relative(dir, f)).join(',');
  if (event.type === 'run-queued') return `${event.service} queued (${event.trigger.reason}: ${rel(event.trigger.changedFiles)})`;
  if (event.type === 'run-started') return `${event.service} started ${event.runId} (${event.trigger.reason}: ${rel(event.trigger.changedFiles)})`;
  if (event.type === 'run-waiting') return `${event.service} waits: ${event.reason.message}`;
  if (event.type === 'stage-finished') return `${event.record.service} ${event.record.stage} ${event.record.status}${event.record.detail ? `: ${event.record.detail}` : ''}`;
  if (event.type === 'run-finished') return `${event.summary.service} finished ${event.summary.runId} ${event.summary.status}${event.summary.error ? `: ${event.summary.error}` : ''}`;
  if (event.type === 'warning') return `warning: ${event.message}`;
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function newEngine(dir: string, repo: string): Promise<Engine> {
  const file = path.join(dir, 'tightloop.yaml');
  writeFileSync(file, config(repo));
  const { config: parsed, issues } = parseConfigText(config(repo), file);
  if (!parsed) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return Engine.start(parsed, { stages: createIntegrations });
}

function seedWorkspace(dir: string): void {
  const put = (p: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), text);
  };
  put('shared/proto.txt', 'v0-proto\n');
  put('shared/common.txt', 'v0-common\n');
  put('ctxsrc/a.txt', 'v0-a\n');
  put('stgsrc/s.txt', 'v0-s\n');
  put('stgsrc/gen/g.txt', 'v0-g\n');
  // Context mode as users write it: the staged marker plus files straight from the repo.
  put('ctx.Dockerfile', 'FROM scratch\nCOPY staged-ctx /staged\nCOPY shared /shared\nCOPY ctxsrc /ctxsrc\nCOPY target/release/keep.txt /keep.txt\n');
  // .tightloop/ is not listed: Tightloop must keep its own state out of every context itself.
  put('.dockerignore', 'target\n!target/release/keep.txt\nout\nstgsrc\nstaged-stg\n.refs\n');
  put('target/release/keep.txt', 'kept\n');
  // A big ignored folder the context listing must not walk.
  for (let i = 0; i < 50; i++) put(`target/debug/d${i}/x.o`, 'obj');
}

describe('model-based: every change reaches the image, or Tightloop says why (issue 10)', () => {
  const repo = `${REGISTRY}/${uniqueName('tl-model-')}`;
  before(() => ensureServices());

  for (const seed of SEEDS) {
    it(`seed ${seed}: up to ${STEPS} steps`, { timeout: STEP_BUDGET_MS + SEED_SLACK_MS }, async (t) => {
      const seedsLeft = SEEDS.length - SEEDS.indexOf(seed);
      const stepsUntil = Date.now() + Math.max(0, (STEP_BUDGET_MS - (Date.now() - fileStarted)) / seedsLeft);
      const dir = await tempDir('tl-model-');
      after(() => rmSync(dir, { recursive: true, force: true }));
      seedWorkspace(dir);
      const engine = await newEngine(dir, repo);
      const model = new Model(dir, engine, seeded(seed));
      const log: string[] = [];
      try {
        await engine.run(['ctx', 'stg', 'web']);
        await engine.startWatching();
        let steps = 0;
        for (; steps < STEPS && Date.now() < stepsUntil; steps++) {
          const what = await model.step();
          log.push(`${steps}: ${what}`);
        }
        t.diagnostic(`${steps} steps`);
        if (steps < STEPS) console.log(`seed ${seed}: ${steps} of ${STEPS} steps within its share of the time budget (a loaded machine)`);
        await model.quietPoint();
        // Identical content, identical tag: a from-scratch engine (no state, no caches) on a copy
        // of the tree names the same images.
        const fresh = await tempDir('tl-model-fresh-');
        after(() => rmSync(fresh, { recursive: true, force: true }));
        execFileSync('cp', ['-a', `${dir}/.`, fresh]);
        rmSync(path.join(fresh, '.tightloop'), { recursive: true, force: true });
        rmSync(path.join(fresh, 'staged-stg'), { recursive: true, force: true });
        rmSync(path.join(fresh, 'out'), { recursive: true, force: true });
        const scratch = await newEngine(fresh, repo);
        try {
          const results = await scratch.run(['ctx', 'stg']);
          for (const result of results) {
            assert.equal(result.status, 'ok', result.error);
            const ours = model.runs(result.service).filter((r) => r.status === 'ok').at(-1);
            assert.equal(result.image, ours?.image, `${result.service}: a from-scratch build gives another image than the one last delivered`);
            // And the same name: identical content, identical tag.
            const tagOf = (r: RunSummary) => r.records.find((x) => x.stage === 'image')?.detail?.match(/:(tl-[0-9a-f]+)/)?.[1];
            const lastTagged = model.runs(result.service).filter((r) => r.status === 'ok' && tagOf(r)).at(-1);
            assert.equal(tagOf(result), lastTagged && tagOf(lastTagged), `${result.service}: a from-scratch build gives another tag`);
          }
        } finally {
          await scratch.dispose();
        }
      } catch (error) {
        console.log(`seed ${seed} failed after:\n${log.slice(-30).join('\n')}\nwhat happened last:\n${model.recentTrace()}`);
        throw error;
      } finally {
        await engine.dispose();
      }
      assert.ok(statSync(dir).isDirectory());
    });
  }
});
