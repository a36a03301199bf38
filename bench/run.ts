/**
 * `npm run bench [-- --quick | --long] [-- --only NAME[,NAME]] [-- --keep-temp] [-- --snapshots DIR]`
 *
 * Measures the loop and Tightloop's own overhead against plain-CLI baselines run in the same
 * process, on the same machine, and writes bench/results/<date>.{json,md} (+ latest.md).
 * Suites: save-latency, image-push, overhead, noop, manifests, live, watcher-scale, burst, context-mode, build-patterns, soak, activation.
 * A real cluster when TIGHTLOOP_E2E_KUBECONFIG is set (bench/with-fake-cluster.ts stands in for one).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cleanupImages, dockerServerVersion } from './lib/docker.js';
import type { BenchContext } from './lib/context.js';
import { REPO_ROOT } from './lib/fixture.js';
import { startCluster } from './lib/kube.js';
import { cleanupRegistry, registryUp } from './lib/registry.js';
import { machineInfo, markdown, summaryText, type BenchReport } from './lib/report.js';
import type { Figure, Skipped, SuiteOutput } from './lib/result.js';

interface Suite {
  name: string;
  needs: ('docker' | 'kube' | 'docker-stages' | 'kube-stages')[];
  run(ctx: BenchContext): Promise<SuiteOutput>;
}

const SUITES: Suite[] = [
  { name: 'save-latency', needs: [], run: async (c) => (await import('./suites/save-latency.js')).saveLatency(c) },
  { name: 'image-push', needs: ['docker', 'docker-stages'], run: async (c) => (await import('./suites/image-push.js')).imagePush(c) },
  { name: 'overhead', needs: ['docker', 'docker-stages', 'kube', 'kube-stages'], run: async (c) => (await import('./suites/overhead.js')).overhead(c) },
  { name: 'noop', needs: ['docker', 'docker-stages', 'kube', 'kube-stages'], run: async (c) => (await import('./suites/noop.js')).noop(c) },
  { name: 'manifests', needs: ['docker', 'docker-stages', 'kube', 'kube-stages'], run: async (c) => (await import('./suites/manifests.js')).manifests(c) },
  { name: 'live', needs: ['docker', 'docker-stages', 'kube-stages'], run: async (c) => (await import('./suites/live.js')).live(c) },
  { name: 'watcher-scale', needs: [], run: async (c) => (await import('./suites/watcher-scale.js')).watcherScale(c) },
  { name: 'burst', needs: [], run: async (c) => (await import('./suites/burst.js')).burst(c) },
  { name: 'context-mode', needs: ['docker', 'docker-stages'], run: async (c) => (await import('./suites/context-mode.js')).contextMode(c) },
  { name: 'build-patterns', needs: ['docker', 'docker-stages'], run: async (c) => (await import('./suites/build-patterns.js')).buildPatterns(c) },
  { name: 'activation', needs: [], run: async (c) => (await import('./suites/activation.js')).activation(c) },
  { name: 'soak', needs: ['docker', 'docker-stages', 'kube', 'kube-stages'], run: async (c) => (await import('./suites/soak.js')).soak(c) },
];

const WHY: Record<Suite['needs'][number], string> = {
  docker: 'the Docker engine or the registry at 127.0.0.1:5000 is not reachable (run `bash scripts/services.sh start`)',
  kube: 'no cluster: the fake Kubernetes API server (test/fake-kube) is not available and TIGHTLOOP_E2E_KUBECONFIG is not set',
  'docker-stages': 'the engine has no Docker stages yet (src/engine/docker/index.ts)',
  'kube-stages': 'the engine has no Kubernetes stages yet (src/engine/kube/index.ts)',
};

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      long: { type: 'boolean', default: false },
      snapshots: { type: 'string' },
      only: { type: 'string' }, 'keep-temp': { type: 'boolean', default: false } },
  });
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((name) => !SUITES.some((s) => s.name === name)) ?? [];
  if (unknown.length) {
    process.stderr.write(`bench: unknown suite(s) ${unknown.join(', ')}; known: ${SUITES.map((s) => s.name).join(', ')}\n`);
    return 2;
  }
  const started = new Date();
  const log = (message: string) => process.stderr.write(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
  const id = `${started.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
  const tmpRoot = await mkdtemp(path.join(os.tmpdir(), 'tl-bench-'));
  const dockerVersion = await dockerServerVersion();
  const registry = process.env.TIGHTLOOP_REGISTRY ?? '127.0.0.1:5000';
  const docker = !!dockerVersion && (await registryUp(registry));
  const integrations = {
    docker: existsSync(path.join(REPO_ROOT, 'src/engine/docker/index.ts')),
    kube: existsSync(path.join(REPO_ROOT, 'src/engine/kube/index.ts')),
  };
  const ctx: BenchContext = {
    quick: values.quick!,
    long: values.long!,
    ...(values.snapshots && { snapshots: path.resolve(values.snapshots) }),
    tmpRoot,
    id,
    registry,
    repoPrefix: `${registry}/tl-bench-${id}`,
    docker,
    integrations,
    log,
    reps: (full, quick) => (values.quick ? quick : full),
  };
  const selected = SUITES.filter((s) => !only || only.includes(s.name));
  // watcher-scale and burst use the cluster when there is one (a realistic engine process); live
  // uses a real cluster when TIGHTLOOP_E2E_KUBECONFIG names one, else a fake of its own.
  const wantsKube = docker && selected.some((s) => s.needs.includes('kube') || ['watcher-scale', 'burst'].includes(s.name) || (s.name === 'live' && !!process.env.TIGHTLOOP_E2E_KUBECONFIG));
  const figures: Figure[] = [];
  const skipped: Skipped[] = [];
  const raw: Record<string, unknown> = {};
  const load: Record<string, { before: number; after: number }> = {};
  const onSignal = () => log('interrupted; cleaning up (Ctrl-C again to abandon cleanup)');
  process.once('SIGINT', onSignal);
  try {
    if (wantsKube) ctx.kube = await startCluster(ctx);
    for (const suite of selected) {
      const missing = suite.needs.find(
        (need) => (need === 'docker' && !docker) || (need === 'kube' && !ctx.kube) || (need === 'docker-stages' && !integrations.docker) || (need === 'kube-stages' && !integrations.kube),
      );
      if (missing) {
        skipped.push({ suite: suite.name, reason: WHY[missing] });
        log(`${suite.name}: skipped, ${WHY[missing]}`);
        continue;
      }
      log(`${suite.name}: start (load average ${os.loadavg()[0]!.toFixed(1)})`);
      const t0 = Date.now();
      const loadBefore = os.loadavg()[0]!;
      try {
        const out = await suite.run(ctx);
        figures.push(...out.figures);
        skipped.push(...(out.skipped ?? []));
        if (out.raw) raw[suite.name] = out.raw;
      } catch (error) {
        const message = (error as Error).stack ?? String(error);
        skipped.push({ suite: suite.name, reason: `failed: ${(error as Error).message}` });
        log(`${suite.name}: FAILED\n${message}`);
      }
      // 2 shared cores: other work on the machine shows up in the figures, so keep how busy it was.
      load[suite.name] = { before: loadBefore, after: os.loadavg()[0]! };
      log(`${suite.name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await ctx.kube?.dispose().catch((e: Error) => log(`cluster cleanup: ${e.message}`));
    if (docker) {
      await cleanupImages(ctx.repoPrefix, log);
      await cleanupRegistry(registry, `tl-bench-${id}`, log);
    }
    if (!values['keep-temp']) await rm(tmpRoot, { recursive: true, force: true });
    else log(`temp kept: ${tmpRoot}`);
  }

  const mode: BenchReport['mode'] = values.long ? 'long' : only ? 'partial' : values.quick ? 'quick' : 'full';
  const date = started.toISOString().slice(0, 10);
  const report: BenchReport = {
    date,
    startedAt: started.toISOString(),
    durationS: (Date.now() - started.getTime()) / 1000,
    mode,
    machine: machineInfo(dockerVersion),
    cluster: ctx.kube ? (ctx.kube.kind === 'fake' ? 'fake Kubernetes API server (test/fake-kube, in the bench process)' : `${ctx.kube.label ?? 'real cluster'} (${ctx.kube.context})`) : 'none',
    load,
    figures,
    skipped,
    raw,
  };
  // Only a full run may become the figures the README quotes.
  const suffix = mode === 'long' && only ? `long-${only.join('-')}` : mode;
  const base = path.join(REPO_ROOT, 'bench/results', mode === 'full' ? date : `${date}-${suffix}`);
  await mkdir(path.dirname(base), { recursive: true });
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 1)}\n`);
  const md = markdown(report);
  await writeFile(`${base}.md`, md);
  if (mode === 'full') await writeFile(path.join(REPO_ROOT, 'bench/results/latest.md'), md);
  process.stdout.write(`${summaryText(report)}\nwrote ${path.relative(process.cwd(), base)}.{json,md}${mode === 'full' ? ' and bench/results/latest.md' : ''}\n`);
  // A missed target is a result, not a failure of the bench.
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`bench: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
