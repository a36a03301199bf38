import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseConfigText } from '../../src/engine/config/load.js';
import { Engine } from '../../src/engine/index.js';
import { createIntegrations } from '../../src/engine/integrations.js';
import type { RunSummary } from '../../src/engine/types.js';
import type { BenchContext } from '../lib/context.js';
import { removeTag } from '../lib/docker.js';
import { figure, type Figure, type SuiteOutput } from '../lib/result.js';
import { now } from '../lib/stats.js';

const run = promisify(execFile);

/** Files in the ignored target/ folder (issue 10: a Rust workspace's build output). */
const TARGET_FILES = 80_000;

/**
 * Context mode (image.context + the user's Dockerfile, issue 10).
 * (a) A no-op run (nothing changed) of a context-mode service against the same app in staged
 *     mode: the context must be listed and hashed to know it is unchanged; staged mode knows it
 *     from the staged bytes. Both deliver by push to the registry (no cluster).
 * (b) A repo with 80,000 files under target/, excluded by .dockerignore with a "!" rule that
 *     brings one file back: the image stage after a one-file change, against a plain
 *     `docker build` of the same context after the same change (target ≤ 1.2×).
 */
export async function contextMode(ctx: BenchContext): Promise<SuiteOutput> {
  const root = path.join(ctx.tmpRoot, 'context-mode');
  await makeApp(root);
  const figures: Figure[] = [];
  const raw: Record<string, unknown> = {};
  const engine = await engineFor(root, ctx.repoPrefix);
  try {
    // (a) no-op runs, the two modes in turn.
    for (const name of ['ctx', 'stg']) expectOk(await engine.run([name]), 'first run');
    const reps = ctx.reps(21, 5);
    const ctxNoop: number[] = [];
    const stgNoop: number[] = [];
    for (let i = 0; i < reps; i++) {
      for (const [name, samples] of [['ctx', ctxNoop], ['stg', stgNoop]] as const) {
        const t0 = now();
        const [summary] = await engine.run([name]);
        samples.push(now() - t0);
        expectOk([summary!], 'no-op run');
        if (!summary!.records.some((r) => r.stage === 'push' && r.status === 'skipped')) throw new Error(`${name}: a no-op run delivered something: ${describe(summary!)}`);
      }
    }
    ctx.log(`context-mode no-op: ctx ${median(ctxNoop)} ms, staged ${median(stgNoop)} ms`);
    figures.push(
      figure('context-mode', 'no-op run, context mode (context listed and hashed, nothing delivered)', 'ms', ctxNoop, {
        baseline: { name: 'no-op run of the same app in staged mode', samples: stgNoop },
        note: `app: 1 MiB binary, 40 config files, 400 static files; ${TARGET_FILES} files under an ignored target/ (pruned from the listing)`,
      }),
    );

    // (b) a one-file change: the image stage against `docker build` of the same context.
    const tlImage: number[] = [];
    const tlEngineImage: number[] = [];
    const plain: number[] = [];
    const buildReps = ctx.reps(11, 3);
    const plainTag = `${ctx.repoPrefix}/context-plain:bench`;
    for (let i = 0; i < buildReps; i++) {
      await writeFile(path.join(root, 'config/app-0.yaml'), `changed: ${randomBytes(8).toString('hex')}\n`);
      tlImage.push(imageStageMs(await engine.run(['ctx'])));
      await writeFile(path.join(root, 'config/app-0.yaml'), `changed: ${randomBytes(8).toString('hex')}\n`);
      process.env.TIGHTLOOP_ENGINE_BUILD = '1';
      try {
        tlEngineImage.push(imageStageMs(await engine.run(['ctx'])));
      } finally {
        delete process.env.TIGHTLOOP_ENGINE_BUILD;
      }
      await writeFile(path.join(root, 'config/app-0.yaml'), `changed: ${randomBytes(8).toString('hex')}\n`);
      const t0 = now();
      await run('docker', ['build', '-q', '-f', 'ctx.Dockerfile', '-t', plainTag, '.'], { cwd: root, maxBuffer: 1 << 24 });
      plain.push(now() - t0);
    }
    await removeTag(plainTag).catch(() => {});
    ctx.log(`context-mode target/: direct ${median(tlImage)} ms, engine ${median(tlEngineImage)} ms, docker build ${median(plain)} ms`);
    const note = `${TARGET_FILES} files under target/, excluded by .dockerignore with "!target/release/app.conf" bringing one back; one config file changed before each build`;
    figures.push(
      figure('context-mode', 'image stage after a one-file change, 80k-file ignored target/ (default: direct path)', 'ms', tlImage, {
        baseline: { name: '`docker build` of the same context after the same change', samples: plain },
        target: { on: 'ratio', limit: 1.2, text: '≤ 1.2× docker build' },
        note,
      }),
      figure('context-mode', 'image stage after a one-file change, 80k-file ignored target/ (engine build, TIGHTLOOP_ENGINE_BUILD=1)', 'ms', tlEngineImage, {
        baseline: { name: '`docker build` of the same context after the same change', samples: plain },
        target: { on: 'ratio', limit: 1.2, text: '≤ 1.2× docker build' },
        note,
      }),
    );
    raw.samples = { ctxNoop, stgNoop, tlImage, tlEngineImage, plain };
  } finally {
    await engine.dispose();
  }
  return { figures, raw };
}

async function engineFor(root: string, repoPrefix: string): Promise<Engine> {
  const text = `version: 1
docker: { delivery: push }
services:
  ctx:
    compile: { command: "true" }
    image: { repository: ${repoPrefix}/context-ctx, context: ., dockerfile: ctx.Dockerfile }
  stg:
    compile: { command: "true" }
    stage:
      dir: staged
      files: [{ from: out/app, to: app }, { from: config, to: config }, { from: static, to: static }]
    image: { repository: ${repoPrefix}/context-stg }
`;
  const file = path.join(root, 'tightloop.yaml');
  await writeFile(file, text);
  const { config, issues } = parseConfigText(text, file);
  if (!config) throw new Error(issues.map((i) => i.message).join('; '));
  return Engine.start(config, { stages: createIntegrations });
}

async function makeApp(root: string): Promise<void> {
  await mkdir(path.join(root, 'out'), { recursive: true });
  await writeFile(path.join(root, 'out/app'), randomBytes(1024 * 1024), { mode: 0o755 });
  for (let i = 0; i < 40; i++) await put(root, `config/app-${i}.yaml`, `key${i}: ${i}\n`);
  for (let i = 0; i < 400; i++) await put(root, `static/s${Math.floor(i / 50)}/f${i}.css`, `.c${i} { color: red }\n`);
  await put(root, 'ctx.Dockerfile', 'FROM scratch\nCOPY out/app /app\nCOPY config /config\nCOPY static /static\nCOPY target/release/app.conf /app.conf\n');
  await put(root, '.dockerignore', 'target\n!target/release/app.conf\nstaged\n.tightloop\ntightloop.yaml\n');
  await put(root, 'target/release/app.conf', 'release\n');
  // Synchronous: 80k small writes are quicker without a promise each.
  for (let d = 0; d < TARGET_FILES / 1000; d++) {
    const folder = path.join(root, `target/debug/deps/d${d}`);
    mkdirSync(folder, { recursive: true });
    for (let f = 0; f < 1000; f++) writeFileSync(path.join(folder, `o${f}.rlib`), 'x');
  }
}

async function put(root: string, relative: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
  await writeFile(path.join(root, relative), text);
}

function imageStageMs(summaries: RunSummary[]): number {
  expectOk(summaries, 'build run');
  const image = summaries[0]!.records.find((r) => r.stage === 'image');
  if (!image || image.status !== 'ok') throw new Error(`the image stage did not build: ${describe(summaries[0]!)}`);
  return image.durationMs;
}

function expectOk(summaries: RunSummary[], what: string): void {
  for (const s of summaries) if (s.status !== 'ok') throw new Error(`${s.service}: ${what} ${s.status}: ${s.error}`);
}

function describe(summary: RunSummary): string {
  return summary.records.map((r) => `${r.stage} ${r.status}${r.detail ? ` (${r.detail})` : ''}`).join('; ');
}

const median = (samples: number[]) => Math.round([...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!);
