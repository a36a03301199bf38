import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { workspace } from '../helpers/workspace.js';

const run = promisify(execFile);

/**
 * The shipped bundles, built as `vsce package` builds them: the Docker and Kubernetes integrations
 * are files of their own (dist/integrations-*.cjs), required by cli.cjs and extension.cjs when a
 * config needs them, and they take the modules they share with the bundle (StageError, the
 * process-group registry, zod…) from it. A failure made inside an integration must reach the
 * pipeline as the StageError it is, hint and all: with a second copy of the class it would arrive
 * as a bare Error and lose its hint.
 */
describe('bundles: the integrations load on first use and share the bundle’s modules', () => {
  let dist: string;
  let probe: string;
  const NO_DOCKER = 'unix:///nonexistent/docker.sock';

  before(async () => {
    dist = await workspace();
    await run(process.execPath, ['scripts/build.mjs', '--production', '--outdir', dist]);
    // Run with `node -r probe cli.cjs …`: on exit, which bundle files were required and which
    // modules the bundle handed over to them.
    probe = path.join(await workspace(), 'probe.cjs');
    await writeFile(
      probe,
      `process.on('exit', () => {
        const loaded = Object.keys(require.cache).filter((f) => f.startsWith(${JSON.stringify(dist)})).map((f) => require('node:path').basename(f)).sort();
        const handed = Object.keys(globalThis[Symbol.for('tightloop.bundleModules')] ?? {});
        process.stderr.write('PROBE ' + JSON.stringify({ loaded, handed }) + '\\n');
      });`,
    );
  });

  async function cli(cwd: string, args: string[], env: Record<string, string> = {}) {
    const out = await run(process.execPath, ['-r', probe, path.join(dist, 'cli.cjs'), ...args], { cwd, env: { ...process.env, ...env } }).catch((error: { stdout: string; stderr: string; code: number }) => error);
    const line = out.stderr.split('\n').find((l) => l.startsWith('PROBE '));
    assert.ok(line, `no probe output; stderr:\n${out.stderr}`);
    const probed = JSON.parse(line.slice('PROBE '.length)) as { loaded: string[]; handed: string[] };
    const finished = out.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; summary?: { failedStage?: string; error?: string; hint?: string } })
      .find((e) => e.type === 'run-finished');
    return { ...probed, summary: finished?.summary, stderr: out.stderr };
  }

  it('neither bundle holds dockerode or @kubernetes/client-node (a static import would put them back)', async () => {
    // Request paths each library sends: they survive minification.
    const marks = { 'integrations-docker.cjs': '"/containers/create', 'integrations-kube.cjs': '/api/v1/namespaces/{namespace}/pods' };
    for (const [file, mark] of Object.entries(marks)) assert.ok((await readFile(path.join(dist, file), 'utf8')).includes(mark), `${file} should hold ${mark}`);
    for (const bundle of ['cli.cjs', 'extension.cjs']) {
      const text = await readFile(path.join(dist, bundle), 'utf8');
      for (const [file, mark] of Object.entries(marks)) assert.ok(!text.includes(mark), `${bundle} holds code of ${file} (${mark})`);
    }
  });

  it('the CLI starts without either integration', async () => {
    const { loaded, handed } = await cli(os.tmpdir(), ['--help']);
    assert.deepEqual(loaded, ['cli.cjs']);
    assert.deepEqual(handed, []);
  });

  it('an image stage failure keeps its hint, and only the Docker integration was loaded', async () => {
    const dir = await workspace({
      'tightloop.yaml': [
        'version: 1',
        'services:',
        '  app:',
        '    compile: { command: "true" }',
        '    stage: { dir: out, files: [{ from: app.txt, to: app.txt }] }',
        '    image: { repository: 127.0.0.1:1/tl-bundle-test, dockerfile: Dockerfile }',
      ].join('\n'),
      'app.txt': 'app\n',
      // A RUN line needs the engine: the direct (in-process) path does not apply.
      Dockerfile: 'FROM scratch\nRUN true\nCOPY app.txt /app.txt\n',
    });
    const result = await cli(dir, ['run', '--json'], { DOCKER_HOST: NO_DOCKER });
    assert.equal(result.summary?.failedStage, 'image', result.stderr);
    assert.match(result.summary.error ?? '', /Docker engine is not running/);
    assert.match(result.summary.hint ?? '', /start Docker/);
    assert.deepEqual(result.loaded, ['cli.cjs', 'integrations-docker.cjs']);
    for (const shared of ['src/engine/stages/stage.ts', 'src/engine/compile/process-groups.ts']) assert.ok(result.handed.includes(shared), `${shared} not taken from the bundle: ${result.handed.join(', ')}`);
  });

  it('a build-container failure (Docker integration, compile stage of the bundle) keeps its hint', async () => {
    const dir = await workspace({
      'tightloop.yaml': ['version: 1', 'services:', '  app:', '    compile: { command: "true", container: { image: "tightloop-test/busybox:1" } }'].join('\n'),
    });
    const result = await cli(dir, ['run', '--json'], { DOCKER_HOST: NO_DOCKER });
    assert.equal(result.summary?.failedStage, 'compile', result.stderr);
    assert.match(result.summary.hint ?? '', /start Docker/);
    assert.deepEqual(result.loaded, ['cli.cjs', 'integrations-docker.cjs']);
  });

  it('a deploy stage failure keeps its hint, and only the Kubernetes integration was loaded', async () => {
    const dir = await workspace({
      'tightloop.yaml': ['version: 1', 'kubernetes: { namespace: default, allowContexts: [kind-unreachable] }', 'services:', '  web:', '    deploy: { manifests: [k8s] }'].join('\n'),
      'k8s/web.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web }\ndata: { a: b }\n',
      // A cluster nobody listens for: connection refused at once.
      kubeconfig: [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]',
        'users: [{ name: u, user: { token: t } }]',
        'contexts: [{ name: kind-unreachable, context: { cluster: c, user: u } }]',
        'current-context: kind-unreachable',
      ].join('\n'),
    });
    const result = await cli(dir, ['run', '--json'], { KUBECONFIG: path.join(dir, 'kubeconfig') });
    assert.equal(result.summary?.failedStage, 'deploy', result.stderr);
    assert.match(result.summary.error ?? '', /Cannot reach the Kubernetes API/);
    assert.match(result.summary.hint ?? '', /kubectl --context kind-unreachable/);
    assert.deepEqual(result.loaded, ['cli.cjs', 'integrations-kube.cjs']);
  });
});
