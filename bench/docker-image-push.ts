/**
 * Image + push time of the Docker stages against `docker build && docker push` of the same
 * context, measured in the same run, for 2, 20 and 80 MB static binaries, on both Tightloop paths:
 * direct (image assembled in-process, pushed over the registry API; uncompressed layers to this
 * loopback registry, and again with gzip level 1 layers) and engine (TIGHTLOOP_ENGINE_BUILD=1).
 *
 *   npx tsx bench/docker-image-push.ts [--runs N]      (N ≥ 5, default 7)
 *
 * Needs the engine and the registry at 127.0.0.1:5000 (bash scripts/services.sh start). Every
 * repetition stages new bytes (a fresh padding seed), so both sides build a new layer and push
 * it; the two sides alternate so drift (page cache, registry disk) hits both. The CLI uses the
 * classic builder (DOCKER_BUILDKIT=0: the CLI here has no buildx), the same builder the stages use.
 */
import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createDockerStages } from '../src/engine/docker/index.js';
import * as h from '../test/docker/helpers.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const RUNS = Math.max(5, Number(values.runs));
const SIZES = [2, 20, 80];
const MB = 1024 * 1024;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

type Variant = 'direct' | 'direct-gzip' | 'engine';
const VARIANTS: Variant[] = ['direct', 'direct-gzip', 'engine'];

async function main(): Promise<void> {
  await h.ensureServices();
  const root = await h.tempDir('tl-bench-');
  const name = h.uniqueName('bench');
  const repository = `${h.REGISTRY}/tl-bench/${name}`;
  const staging = path.join(root, 'staging');
  const cliContext = path.join(root, 'cli');
  const config = h.makeConfig(root, [h.makeService(name, { repository }, staging)]);
  const env = { ...process.env, DOCKER_CONFIG: path.join(root, 'docker-config') };
  // The direct path (loopback registry: uncompressed layers), the direct path with gzip level 1
  // layers (what a remote registry gets), and the engine path (TIGHTLOOP_ENGINE_BUILD=1).
  const stagesOf: Record<Variant, ReturnType<typeof createDockerStages>> = {
    direct: createDockerStages(config, { env }),
    'direct-gzip': createDockerStages(config, { env, layerCompression: 'gzip' }),
    engine: createDockerStages(config, { env: { ...env, TIGHTLOOP_ENGINE_BUILD: '1' } }),
  };
  const cliEnv = { DOCKER_HOST: `unix://${h.MAIN_SOCKET}`, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: path.join(root, 'docker-config'), PATH: process.env.PATH };
  const cliTags: string[] = [];
  const pushed: (string | undefined)[] = [];
  const rows: string[] = [];
  let unchanged = '';
  const f = (xs: number[]) => `${Math.round(median(xs))} ms`;
  try {
    for (const size of SIZES) {
      const tl = Object.fromEntries(VARIANTS.map((v) => [v, { image: [] as number[], push: [] as number[], both: [] as number[] }])) as Record<Variant, { image: number[]; push: number[]; both: number[] }>;
      const cli = { build: [] as number[], push: [] as number[], both: [] as number[] };
      let dockerfile = '';
      // Round 0 is a warm-up (first connections, builder cache for the metadata steps); not counted.
      for (let round = 0; round <= RUNS; round++) {
        // Every variant stages its own new bytes, so each builds a new layer and uploads it.
        for (const variant of VARIANTS) {
          const binary = h.padTo(await h.helloBinary(`bench ${size}`), size * MB, `${name}-${size}-${round}-${variant}`);
          const staged = await h.stage(staging, [{ path: 'app', content: binary }]);
          const t = h.makeContext(config, name, { ...staged });
          const stages = stagesOf[variant];
          let started = performance.now();
          const imageResult = await h.runStage(stages.image!, t);
          const imageMs = performance.now() - started;
          if (imageResult.status === 'skipped') throw new Error('bench input did not change');
          const direct = /direct push/.test(imageResult.detail ?? '');
          if (direct !== (variant !== 'engine')) throw new Error(`${variant}: unexpected path: ${imageResult.detail}`);
          started = performance.now();
          await h.runStage(stages.push!, t);
          const pushMs = performance.now() - started;
          pushed.push(t.outputs.deployRef);
          if (variant === 'engine') dockerfile ||= generatedDockerfile(t.logText());
          if (round === 0) continue;
          tl[variant].image.push(imageMs);
          tl[variant].push.push(pushMs);
          tl[variant].both.push(imageMs + pushMs);
        }

        // The same context for the CLI: a staged binary and the Dockerfile the engine path generated.
        await h.rm(cliContext, { recursive: true, force: true });
        await h.mkdir(cliContext, { recursive: true });
        await writeFile(path.join(cliContext, 'app'), h.padTo(await h.helloBinary(`bench ${size}`), size * MB, `${name}-${size}-${round}-cli`), { mode: 0o755 });
        await writeFile(path.join(cliContext, 'Dockerfile'), dockerfile);
        const tag = `${repository}:cli-${size}m-${round}`;
        cliTags.push(tag);
        let started = performance.now();
        await execa('docker', ['build', '-q', '-t', tag, cliContext], { env: cliEnv, extendEnv: false });
        const buildMs = performance.now() - started;
        started = performance.now();
        await execa('docker', ['push', '-q', tag], { env: cliEnv, extendEnv: false });
        const cliPushMs = performance.now() - started;
        const digests = await execa('docker', ['image', 'inspect', '--format', '{{join .RepoDigests " "}}', tag], { env: cliEnv, extendEnv: false });
        pushed.push(...digests.stdout.split(' '));
        if (round === 0) continue;
        cli.build.push(buildMs);
        cli.push.push(cliPushMs);
        cli.both.push(buildMs + cliPushMs);
      }
      if (size === SIZES[SIZES.length - 1]) {
        // Unchanged input: the content tag is in the registry, so the direct path does nothing; the CLI rebuilds from its cache.
        const same = { tl: [] as number[], cli: [] as number[] };
        const lastTag = cliTags[cliTags.length - 1]!;
        for (let round = 0; round < RUNS; round++) {
          const t = h.makeContext(config, name, { ...(await h.stage(staging, [{ path: 'app', content: h.padTo(await h.helloBinary(`bench ${size}`), size * MB, `${name}-${size}-${RUNS}-direct`) }])) });
          let started = performance.now();
          const skipped = await h.runStage(stagesOf.direct.image!, t);
          await h.runStage(stagesOf.direct.push!, t);
          same.tl.push(performance.now() - started);
          if (skipped.status !== 'skipped') throw new Error('expected the unchanged build to be skipped');
          started = performance.now();
          await execa('docker', ['build', '-q', '-t', lastTag, cliContext], { env: cliEnv, extendEnv: false });
          await execa('docker', ['push', '-q', lastTag], { env: cliEnv, extendEnv: false });
          same.cli.push(performance.now() - started);
        }
        unchanged = `| ${size} MB, unchanged | direct | **${f(same.tl)}** (tag already in registry) | **${f(same.cli)}** (cached build) | **${(median(same.tl) / median(same.cli)).toFixed(2)}×** |`;
      }
      const base = `${f(cli.build)} + ${f(cli.push)} = **${f(cli.both)}**`;
      for (const variant of VARIANTS) {
        const x = tl[variant];
        rows.push(`| ${size} MB | ${variant} | ${f(x.image)} + ${f(x.push)} = **${f(x.both)}** | ${base} | **${(median(x.both) / median(cli.both)).toFixed(2)}×** |`);
      }
      console.error(`${size} MB: ${VARIANTS.map((v) => `${v} ${f(tl[v].both)} [${tl[v].both.map(Math.round).join(', ')}]`).join('; ')}; docker CLI ${f(cli.both)} [${cli.both.map(Math.round).join(', ')}]`);
    }
  } finally {
    for (const stages of Object.values(stagesOf)) await stages.dispose();
    await h.removeImages(name, cliTags);
    await h.deleteFromRegistry(pushed);
    await h.rm(root, { recursive: true, force: true });
  }
  console.log(`\nimage + push, median of ${RUNS} runs each (same machine, same run, alternating)\n`);
  console.log('| binary | Tightloop path | Tightloop image + push | docker build + docker push | ratio |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
  if (unchanged) console.log(unchanged);
}

/** Recovers the Dockerfile the stage generated from its build log ("Step n/m : …" lines). */
function generatedDockerfile(log: string): string {
  const steps = [...log.matchAll(/Step \d+\/\d+ : (.*)$/gm)].map((m) => m[1]!);
  if (!steps.length) throw new Error('no build steps in the stage log');
  return steps.join('\n') + '\n';
}

await main();
