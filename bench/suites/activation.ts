import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchContext } from '../lib/context.js';
import { REPO_ROOT } from '../lib/fixture.js';
import { figure, type SuiteOutput } from '../lib/result.js';
import { summarize } from '../lib/stats.js';

const run = promisify(execFile);
const CHILD = path.join(REPO_ROOT, 'bench/child/load-extension.mjs');

interface Sample {
  requireMs: number;
  activateMs: number;
  readyMs?: number;
  /** CPU time of the process (all threads) for the same spans: less swayed by a busy machine. */
  requireCpuMs: number;
  activateCpuMs: number;
  readyCpuMs?: number;
  phase?: string;
  services?: string[];
  modules: string[];
}

/**
 * 9. Activation of the production extension bundle (`node scripts/build.mjs --production`), each
 * sample a fresh `node` process running bench/child/load-extension.mjs against a `vscode`
 * stand-in: require + activate() (what VS Code reports as the activation time), and activate() →
 * the engine loaded for a tightloop.yaml with an image and a deploy (the Docker and Kubernetes
 * integrations included). Baseline: the same sources built as one bundle (`--single-bundle`, the
 * integrations inlined), in the same run, samples alternating so machine load hits both alike.
 */
export async function activation(ctx: BenchContext): Promise<SuiteOutput> {
  const reps = ctx.reps(20, 5);
  const variants = { single: path.join(ctx.tmpRoot, 'bundle-single'), split: path.join(ctx.tmpRoot, 'bundle-split') };
  await build(variants.single, ['--single-bundle']);
  await build(variants.split, []);
  const workspace = await configWorkspace(path.join(ctx.tmpRoot, 'activation-workspace'));
  const env = { ...process.env, KUBECONFIG: path.join(workspace, 'kubeconfig') };

  const samples: Record<keyof typeof variants, { activation: Sample[]; ready: Sample[] }> = { single: { activation: [], ready: [] }, split: { activation: [], ready: [] } };
  for (let i = -1; i < reps; i++) {
    for (const name of ['single', 'split'] as const) {
      const activation = await measure(variants[name], [], env);
      const ready = await measure(variants[name], [workspace], env);
      if (ready.phase !== 'ready' || ready.services?.join() !== 'hello') throw new Error(`${name}: the engine did not load (phase ${ready.phase}, services ${ready.services?.join(', ')})`);
      if (i < 0) continue; // a warm-up round: the file cache, not Tightloop
      samples[name].activation.push(activation);
      samples[name].ready.push(ready);
    }
  }
  const loadedAtReady = samples.split.ready[0]?.modules.join(', ') ?? '';
  const activationOnly = samples.split.activation[0]?.modules.join(', ') ?? '';

  const sizes = { single: await bundleSizes(variants.single), split: await bundleSizes(variants.split) };
  const mb = (bytes: number) => bytes / 1e6;
  const sizeNote = (files: Record<string, number>) => Object.entries(files).map(([f, b]) => `${f} ${mb(b).toFixed(2)} MB`).join(', ');
  const s = 'activation';
  const act = (list: Sample[]) => list.map((x) => x.requireMs + x.activateMs);
  const ready = (list: Sample[]) => list.map((x) => x.readyMs!);
  const total = (list: Sample[]) => list.map((x) => x.requireMs + x.readyMs!);
  const actCpu = (list: Sample[]) => list.map((x) => x.requireCpuMs + x.activateCpuMs);
  const totalCpu = (list: Sample[]) => list.map((x) => x.requireCpuMs + x.readyCpuMs!);
  const base = 'one bundle (integrations inlined)';
  return {
    figures: [
      figure(s, 'activation: require extension.cjs + activate()', 'ms', act(samples.split.activation), {
        baseline: { name: base, samples: act(samples.single.activation) },
        note: `require alone: median ${median(samples.split.activation.map((x) => x.requireMs)).toFixed(0)} ms vs ${median(samples.single.activation.map((x) => x.requireMs)).toFixed(0)} ms; files loaded: ${activationOnly}`,
      }),
      figure(s, 'activate() → engine loaded (config with image + deploy)', 'ms', ready(samples.split.ready), {
        baseline: { name: base, samples: ready(samples.single.ready) },
        note: `files loaded by then: ${loadedAtReady}`,
      }),
      figure(s, 'require → engine loaded (the whole wait of a workspace with a config)', 'ms', total(samples.split.ready), {
        baseline: { name: base, samples: total(samples.single.ready) },
      }),
      figure(s, 'activation, CPU time: require extension.cjs + activate()', 'ms', actCpu(samples.split.activation), { baseline: { name: base, samples: actCpu(samples.single.activation) } }),
      figure(s, 'require → engine loaded, CPU time', 'ms', totalCpu(samples.split.ready), { baseline: { name: base, samples: totalCpu(samples.single.ready) } }),
      figure(s, 'extension.cjs size (parsed at activation)', 'MB', [mb(sizes.split['extension.cjs'] ?? NaN)], {
        baseline: { name: 'one bundle', samples: [mb(sizes.single['extension.cjs'] ?? NaN)] },
        note: `split: ${sizeNote(sizes.split)}; one bundle: ${sizeNote(sizes.single)}`,
      }),
    ],
    raw: { reps, samples, sizes },
  };
}

async function build(outdir: string, extra: string[]): Promise<void> {
  await run(process.execPath, ['scripts/build.mjs', '--production', '--outdir', outdir, ...extra], { cwd: REPO_ROOT });
}

async function measure(dist: string, args: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  const { stdout } = await run(process.execPath, [CHILD, dist, ...args], { env, timeout: 120_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Sample;
}

/** The Node bundles of a build and their sizes (bytes). */
async function bundleSizes(dist: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const file of (await readdir(dist)).filter((f) => f.endsWith('.cjs')).sort()) out[file] = (await stat(path.join(dist, file))).size;
  return out;
}

/**
 * A workspace whose config needs both integrations, and a kubeconfig naming a cluster that is
 * never contacted: loading an engine reads files only.
 */
async function configWorkspace(root: string): Promise<string> {
  await mkdir(path.join(root, 'k8s'), { recursive: true });
  await mkdir(path.join(root, 'src'), { recursive: true });
  await writeFile(
    path.join(root, 'tightloop.yaml'),
    [
      'version: 1',
      'kubernetes: { namespace: default }',
      'services:',
      '  hello:',
      '    watch: { paths: [src] }',
      '    compile: { command: "true" }',
      '    stage: { dir: build_artifacts, files: [{ from: src/app, to: app }] }',
      '    image: { repository: 127.0.0.1:5000/hello, dockerfile: Dockerfile }',
      '    deploy: { manifests: [k8s] }',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(root, 'Dockerfile'), 'FROM scratch\nCOPY app /app\n');
  await writeFile(path.join(root, 'src/app'), 'app\n');
  await copyFile(path.join(REPO_ROOT, 'examples/hello-service/k8s/hello.yaml'), path.join(root, 'k8s/hello.yaml'));
  await writeFile(
    path.join(root, 'kubeconfig'),
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{ name: bench, cluster: { server: "https://127.0.0.1:1" } }]',
      'users: [{ name: bench, user: { token: bench } }]',
      'contexts: [{ name: kind-bench, context: { cluster: bench, user: bench } }]',
      'current-context: kind-bench',
      '',
    ].join('\n'),
  );
  return root;
}

const median = (values: number[]) => summarize(values).median;
