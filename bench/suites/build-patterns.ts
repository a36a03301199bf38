import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { compileStage } from '../../src/engine/compile/compile-stage.js';
import { buildContainerName, cacheVolumeName } from '../../src/engine/compile/container/dev-container.js';
import type { ResolvedService } from '../../src/engine/config/resolved.js';
import { createDockerStages } from '../../src/engine/docker/index.js';
import * as h from '../../test/docker/helpers.js';
import { buildToolchainImage } from '../../test/docker/toolchain-image.js';
import type { BenchContext } from '../lib/context.js';
import { figure, type Figure, type SuiteOutput } from '../lib/result.js';
import { now } from '../lib/stats.js';

const MiB = 1024 * 1024;
const APP_BYTES = 8 * MiB;
const DEPS_BYTES = 32 * MiB;

/**
 * The issue-14 build patterns at stage level, each against its baseline in the same run:
 *  - image + push of a two-platform image (index over amd64 + arm64) vs the same app for one platform;
 *  - an app-only change with content-keyed layers vs the same image with keying turned off
 *    (a 32 MiB dependency layer that keying reuses without tar or hash; the registry has it either way);
 *  - a compile in the kept dev build container vs `docker run --rm` of the same image per compile.
 * Every repetition stages new app bytes, so each image and push is real work.
 */
export async function buildPatterns(ctx: BenchContext): Promise<SuiteOutput> {
  const reps = ctx.reps(10, 3);
  const figures: Figure[] = [];
  const { static: amd64 } = await h.compiledBinaries();
  const arm64 = await crossHello(ctx.tmpRoot);

  // --- two platforms vs one ---------------------------------------------------------------
  const one: number[] = [];
  const two: number[] = [];
  {
    const single = await imageService(ctx, 'one-platform', {});
    const multi = await imageService(ctx, 'two-platform', { platforms: ['linux/amd64', 'linux/arm64'] });
    for (let i = 0; i < reps; i++) {
      const app = randomBytes(APP_BYTES);
      one.push(await single.deliver([{ path: 'app', content: Buffer.concat([amd64, app]) }]));
      two.push(
        await multi.deliver([
          { path: 'linux-amd64/app', content: Buffer.concat([amd64, app]) },
          { path: 'linux-arm64/app', content: Buffer.concat([arm64, app]) },
        ]),
      );
    }
    await single.dispose();
    await multi.dispose();
  }
  figures.push(
    figure('build-patterns', `image + push, two platforms (${APP_BYTES / MiB} MiB app each)`, 'ms', two, {
      baseline: { name: 'one platform, same app', samples: one },
      note: 'an OCI index over two per-platform images: twice the layer bytes, one more manifest; ratio ≈ 2 means no overhead beyond the bytes',
    }),
  );

  // --- app-only change: keyed layers vs not -----------------------------------------------
  const keyed: number[] = [];
  const unkeyed: number[] = [];
  {
    const layers = [{ name: 'deps', files: ['lib/**'] }];
    const deps = randomBytes(DEPS_BYTES);
    const withKeys = await imageService(ctx, 'keyed', { layers });
    const without = await imageService(ctx, 'unkeyed', { layers }, { keyedLayers: false });
    const files = (app: Buffer) => [
      { path: 'app', content: Buffer.concat([amd64, app]) },
      { path: 'lib/libdeps.so', content: deps, mode: 0o644 },
    ];
    // First delivery uploads the deps layer for both; from then on only the app changes.
    await withKeys.deliver(files(randomBytes(APP_BYTES)));
    await without.deliver(files(randomBytes(APP_BYTES)));
    for (let i = 0; i < reps; i++) {
      keyed.push(await withKeys.deliver(files(randomBytes(APP_BYTES))));
      unkeyed.push(await without.deliver(files(randomBytes(APP_BYTES))));
    }
    await withKeys.dispose();
    await without.dispose();
  }
  figures.push(
    figure('build-patterns', `app-only change, keyed layers (${DEPS_BYTES / MiB} MiB deps + ${APP_BYTES / MiB} MiB app)`, 'ms', keyed, {
      baseline: { name: 'same image, layer keys off (deps layer tarred and hashed again)', samples: unkeyed },
    }),
  );

  // --- compile: kept container vs docker run --rm -----------------------------------------
  const tag = `tightloop-test/toolchain:bench-${ctx.id}`;
  const kept: number[] = [];
  const fresh: number[] = [];
  await buildToolchainImage(tag, 'bench');
  const root = await h.tempDir('tl-bench-devc-');
  const name = `devc${ctx.id.replace(/[^a-z0-9]/g, '')}`;
  const cache = `bench-${ctx.id}`;
  const command = 'mkdir -p out && echo "$(date) $(cat /etc/marker)" > out/app';
  const service: ResolvedService = {
    ...h.makeService(name, { repository: `${ctx.repoPrefix}/unused` }),
    compile: {
      command,
      cwd: root,
      env: {},
      timeoutMs: 60_000,
      problemMatcher: 'none',
      container: { image: tag, workdir: '/workspace', mounts: [], caches: [{ name: cache, target: '/cache' }], env: {}, network: 'none' },
    },
  };
  delete service.image;
  const config = h.makeConfig(root, [service]);
  try {
    const compileKept = async () => {
      const t = h.makeContext(config, name, {});
      const started = now();
      await compileStage.run(t.ctx);
      return now() - started;
    };
    const compileFresh = async () => {
      const started = now();
      await execa('docker', ['run', '--rm', '--network', 'none', '-v', `${root}:/workspace`, '-v', `${cacheVolumeName(cache)}:/cache`, '-w', '/workspace', '--entrypoint', '/bin/sh', tag, '-c', command]);
      return now() - started;
    };
    const firstStart = await compileKept(); // creates and starts the container
    for (let i = 0; i < reps; i++) {
      kept.push(await compileKept());
      fresh.push(await compileFresh());
    }
    figures.push(
      figure('build-patterns', 'compile in the kept dev build container (docker exec)', 'ms', kept, {
        baseline: { name: '`docker run --rm` of the same image per compile', samples: fresh },
        note: `a trivial compile, so the figure is the container overhead; the first compile (create + start) took ${Math.round(firstStart)} ms`,
      }),
    );
  } finally {
    await execa('docker', ['rm', '-f', buildContainerName(root, name)], { reject: false });
    await execa('docker', ['volume', 'rm', '-f', cacheVolumeName(cache)], { reject: false });
    await execa('docker', ['rmi', '-f', tag], { reject: false });
    await h.rm(root, { recursive: true, force: true });
  }
  return { figures };
}

/** The test's hello program, cross-compiled for arm64 (aarch64-linux-gnu-gcc), static. */
async function crossHello(tmpRoot: string): Promise<Buffer> {
  const source = path.join(tmpRoot, 'hello-arm64.c');
  const out = path.join(tmpRoot, 'hello-arm64');
  await h.writeFile(source, '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n');
  await execa('aarch64-linux-gnu-gcc', ['-static', '-O2', '-o', out, source]);
  return readFile(out);
}

/** A service whose staged files are written directly, then image + push timed together. */
async function imageService(ctx: BenchContext, label: string, image: Partial<NonNullable<ResolvedService['image']>>, options: { keyedLayers?: boolean } = {}) {
  const root = await h.tempDir(`tl-bench-${label}-`);
  const name = `${label}-${ctx.id}`.replace(/[^a-z0-9-]/g, '');
  const staging = path.join(root, 'staging');
  const config = h.makeConfig(root, [h.makeService(name, { repository: `${ctx.repoPrefix}/${label}`, ...image }, staging)]);
  const stages = createDockerStages(config, { env: { ...process.env, DOCKER_CONFIG: path.join(root, 'docker-config') }, ...options });
  return {
    async deliver(files: { path: string; content: Buffer; mode?: number }[]): Promise<number> {
      const staged = await h.stage(staging, files);
      const t = h.makeContext(config, name, { ...staged });
      const started = now();
      await h.runStage(stages.image!, t);
      await h.runStage(stages.push!, t);
      return now() - started;
    },
    async dispose() {
      await stages.dispose();
      await h.rm(root, { recursive: true, force: true });
    },
  };
}
