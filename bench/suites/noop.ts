import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Engine } from '../../src/engine/index.js';
import { createIntegrations } from '../../src/engine/integrations.js';
import { runPlainCli } from '../lib/baseline.js';
import type { BenchContext } from '../lib/context.js';
import { countingProxy } from '../lib/counting-proxy.js';
import { cleanupImages } from '../lib/docker.js';
import { makeFixture } from '../lib/fixture.js';
import { extraRuns, saveAndWait, stageMs } from '../lib/loop.js';
import { figure, type SuiteOutput } from '../lib/result.js';
import { epochNow } from '../lib/stats.js';

const GCC = 'mkdir -p build && gcc -static -O2 -Wall -o build/hello src/main.c';

/**
 * 4. No-op save: the source is saved byte-identical, gcc rebuilds the same binary, and nothing
 * after staging may happen. Writes are counted where they would land: a counting proxy in front
 * of the Docker socket, another in front of the registry, and the fake API server's own log.
 * The baseline script re-runs its whole loop on the same unchanged binary through the same proxies.
 */
export async function noop(ctx: BenchContext): Promise<SuiteOutput> {
  const kube = ctx.kube!;
  const reps = ctx.reps(20, 5);
  const dockerProxy = await countingProxy({ listen: { socketPath: path.join(ctx.tmpRoot, 'docker-proxy.sock') }, upstream: { socketPath: '/var/run/docker.sock' } });
  const [host, port] = ctx.registry.split(':');
  const registryProxy = await countingProxy({ listen: { port: 0 }, upstream: { host: host!, port: Number(port) } });
  // Images pushed through the proxy carry its address; the registry storage is the same.
  const prefix = `${registryProxy.address}/tl-bench-${ctx.id}`;
  const fx = await makeFixture(ctx.tmpRoot, { name: 'noop', repository: `${prefix}/noop`, registry: registryProxy.address, dockerHost: dockerProxy.address, kube });
  await kube.apply(path.join(fx.root, 'k8s/hello.yaml'));
  const engine = await Engine.create(fx.configFile, { stages: createIntegrations });
  const counts = () => ({ docker: dockerProxy.writes().length, registry: registryProxy.writes().length, kube: kube.writes() });

  const beyond: number[] = [];
  const writes: number[] = [];
  const plainBeyond: number[] = [];
  const plainWrites: number[] = [];
  const details: string[] = [];
  const runsPerSave: string[][] = [];
  try {
    const initial = await engine.run();
    if (initial[0]?.status !== 'ok') throw new Error(`initial deploy failed: ${initial[0]?.error}`);
    await engine.startWatching();
    const source = await readFile(fx.source, 'utf8');
    const plain = await plainSetup(ctx.tmpRoot, fx.root, source);
    // Its first run builds and pushes for real; from then on the script, too, is a no-op loop.
    await plain.once(`${prefix}/noop-plain:same`, dockerProxy.address, kube);
    for (let i = 0; i < reps; i++) {
      const before = counts();
      const run = await saveAndWait(engine, fx, source);
      const after = counts();
      runsPerSave.push(run.runs);
      const total = (run.finishedAt.ready ?? run.runFinishedAt) - run.savedAt;
      beyond.push(total - stageMs(run.summary, 'compile'));
      writes.push(after.docker - before.docker + (after.registry - before.registry) + (after.kube - before.kube));
      if (i === 0) details.push(...run.summary.records.map((r) => `${r.stage} ${r.status}${r.detail ? ` (${r.detail})` : ''}`));

      const b0 = counts();
      const t0 = epochNow();
      const steps = await plain.once(`${prefix}/noop-plain:same`, dockerProxy.address, kube);
      const b1 = counts();
      plainBeyond.push(epochNow() - t0 - (steps.compile ?? NaN));
      plainWrites.push(b1.docker - b0.docker + (b1.registry - b0.registry) + (b1.kube - b0.kube));
    }
  } finally {
    await engine.dispose();
    await cleanupImages(prefix, ctx.log);
    await dockerProxy.close();
    await registryProxy.close();
  }
  const s = 'noop';
  return {
    figures: [
      figure(s, 'no-op save: save → done, beyond compile', 'ms', beyond, {
        baseline: { name: 'plain CLI script minus its compile', samples: plainBeyond },
        target: { on: 'p95', limit: 20, text: 'p95 ≤ 20 ms' },
        note: `first no-op run: ${details.join('; ')}.${extraRuns(runsPerSave)}`,
      }),
      figure(s, 'no-op save: API writes (Docker + registry + Kubernetes)', 'writes', writes, {
        baseline: { name: 'plain CLI script', samples: plainWrites },
        target: { on: 'max', limit: 0, text: 'zero writes' },
      }),
    ],
    raw: { reps, runsPerSave, beyondCompileMs: beyond, writes, plainBeyondMs: plainBeyond, plainWrites, dockerRequests: dockerProxy.requests.length, registryRequests: registryProxy.requests.length },
  };
}

async function plainSetup(tmpRoot: string, fixtureRoot: string, source: string) {
  const dir = path.join(tmpRoot, 'noop-plain');
  const context = path.join(dir, 'context');
  await mkdir(path.join(dir, 'src'), { recursive: true });
  await mkdir(context, { recursive: true });
  await cp(path.join(fixtureRoot, 'Dockerfile'), path.join(context, 'Dockerfile'));
  await writeFile(path.join(dir, 'src/main.c'), source);
  return {
    once: (image: string, dockerHost: string, kube: NonNullable<BenchContext['kube']>) =>
      runPlainCli({
        artifact: path.join(dir, 'build/hello'),
        context,
        image,
        compile: { command: GCC, cwd: dir },
        dockerHost,
        deploy: { deploy: 'deployment/hello', container: 'hello', namespace: kube.namespace, ...(kube.api ? { api: kube.api } : { kubeconfig: kube.kubeconfig }) },
      }),
  };
}
