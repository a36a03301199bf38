import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { StageError } from '../../src/engine/stages/stage.js';
import * as h from './helpers.js';

before(() => h.ensureServices());

/**
 * Faults in what is being built. Each must fail the image stage with one line that names the
 * culprit; the preflight ones must fail before Docker is even contacted, which is proven by
 * pointing those stages at a socket where nothing listens.
 */
describe('preflight and build errors', () => {
  const roots: string[] = [];
  const services: string[] = [];
  after(async () => {
    for (const name of services) await h.removeImages(name);
    for (const root of roots) await h.rm(root, { recursive: true, force: true });
  });

  /** A service; `dockerfile` (content) is written to <root>/<dockerfileName> and configured. */
  async function fixture(
    image: Partial<Parameters<typeof h.makeService>[1]> = {},
    options: { offline?: boolean; dockerfile?: string; dockerfileName?: string } = {},
  ) {
    const root = await h.tempDir();
    roots.push(root);
    const name = h.uniqueName();
    services.push(name);
    const staging = h.path.join(root, 'staging');
    if (options.dockerfile !== undefined) {
      image = { ...image, dockerfile: h.path.join(root, options.dockerfileName ?? 'Dockerfile') };
      await h.writeFile(image.dockerfile!, options.dockerfile);
    }
    const config = h.makeConfig(
      root,
      [h.makeService(name, { repository: `tl-test/${name}`, ...image }, staging)],
      options.offline ? { host: `unix://${h.path.join(root, 'nothing-listens.sock')}` } : {},
    );
    const stages = createDockerStages(config);
    const build = async (files: { path: string; content: Buffer | string; mode?: number }[], extra: Partial<Parameters<typeof h.makeContext>[2]> = {}) => {
      const staged = await h.stage(staging, files);
      const t = h.makeContext(config, name, { ...staged, ...extra });
      try {
        return { t, result: await h.runStage(stages.image!, t) };
      } finally {
        await stages.dispose();
      }
    };
    return { root, name, staging, config, build };
  }

  /** Rejects with a one-line StageError matching every pattern, and no build ran. */
  async function fails(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<StageError> {
    let caught: unknown;
    await promise.catch((error: unknown) => (caught = error));
    assert.ok(caught instanceof StageError, `expected a StageError, got ${String(caught)}`);
    h.assertOneLine(caught.message);
    for (const pattern of patterns) assert.match(caught.message, pattern);
    return caught;
  }

  test('wrong-architecture binary: stopped before building, names the file, says "exec format error"', async () => {
    const { build } = await fixture({}, { offline: true });
    const binary = await h.helloBinary('arm');
    binary.writeUInt16LE(183, 18); // e_machine = EM_AARCH64: a real ELF header for the other architecture
    const error = await fails(build([{ path: 'app', content: binary }]), /^app is a 64-bit aarch64 executable but the image platform is linux\/amd64/, /exec format error/);
    assert.match(error.options.hint!, /image\.platform/);
  });

  test('dynamically linked binary in FROM scratch: stopped before building, "no such file or directory"', async () => {
    const { build } = await fixture({}, { offline: true });
    await fails(
      build([{ path: 'bin/server', content: await h.helloBinary('dyn', 'dynamic') }]),
      /^bin\/server is dynamically linked \(needs \/lib64\/ld-linux-x86-64\.so\.2\)/,
      /FROM scratch/,
      /no such file or directory/,
    );
  });

  test('the same dynamic binary with its loader staged passes the ELF check', async () => {
    const { build } = await fixture({}, { offline: true });
    // Reaching the engine (which is offline here) proves the preflight let it through.
    await fails(
      build([
        { path: 'app', content: await h.helloBinary('dyn', 'dynamic') },
        { path: 'lib64/ld-linux-x86-64.so.2', content: await h.readFile('/lib64/ld-linux-x86-64.so.2') },
      ]),
      /^Docker engine is not running: there is no socket at .*nothing-listens\.sock \(docker\.host in tightloop\.yaml\)$/,
    );
  });

  test('artifact missing from the staging folder: names it', async () => {
    const { build } = await fixture({}, { offline: true });
    const phantom = { path: 'worker', sha256: '0'.repeat(64), size: 10, mode: 0o755 };
    const binary = await h.helloBinary('x');
    await fails(build([{ path: 'app', content: binary }], { stagedFiles: [phantom] }), /^staged file worker is missing from the staging folder/);
  });

  test('COPY of a file that was not staged: names the Dockerfile line and the file', async () => {
    const { build } = await fixture({}, { offline: true, dockerfile: 'FROM scratch\n# the binary\nCOPY app /app\nCOPY config.toml /etc/config.toml\n' });
    await fails(build([{ path: 'app', content: await h.helloBinary('x') }]), /^Dockerfile line 4: COPY source "config\.toml" is not in the staging folder .* \(staged: app\)$/);
  });

  test('COPY source hidden by .dockerignore (compatibility mode): explains the rule', async () => {
    const root = await h.tempDir();
    roots.push(root);
    const name = h.uniqueName();
    await h.mkdir(h.path.join(root, 'target', 'release'), { recursive: true });
    await h.writeFile(h.path.join(root, 'target', 'release', 'api'), await h.helloBinary('hidden'), { mode: 0o755 });
    await h.writeFile(h.path.join(root, '.dockerignore'), '# keep the build tree out\n.git\ntarget\n');
    await h.writeFile(h.path.join(root, 'Dockerfile'), 'FROM scratch\nCOPY target/release/api /api\n');
    const config = h.makeConfig(root, [h.makeService(name, { repository: `tl-test/${name}`, context: root, dockerfile: h.path.join(root, 'Dockerfile') })], {
      host: `unix://${h.path.join(root, 'none.sock')}`,
    });
    const stages = createDockerStages(config);
    const error = await fails(
      h.runStage(stages.image!, h.makeContext(config, name, {})),
      /^Dockerfile line 2: COPY source "target\/release\/api" is excluded from the build context by \.dockerignore line 3 \("target"\)/,
      /failed to compute cache key: not found/,
    );
    assert.match(error.options.hint!, /add "!target\/release\/api" to .*\.dockerignore after line 3/);

    // A "!" exception brings it back: the preflight passes (and then meets the offline engine).
    await h.writeFile(h.path.join(root, '.dockerignore'), '.git\ntarget\n!target/release/api\n');
    await fails(h.runStage(stages.image!, h.makeContext(config, name, {})), /^Docker engine is not running/);
    await stages.dispose();
  });

  test('build context over the size limit: sizes and the largest file', async () => {
    const { build } = await fixture({ maxContextBytes: 1024 * 1024 }, { offline: true });
    await fails(
      build([
        { path: 'app', content: await h.helloBinary('x') },
        { path: 'assets/blob.bin', content: Buffer.alloc(3 * 1024 * 1024, 1), mode: 0o644 },
      ]),
      /^build context is 3\.\d MiB, over the 1\.0 MiB limit \(image\.maxContextSize\); largest: assets\/blob\.bin \(3\.0 MiB\)/,
    );
  });

  test('Dockerfile syntax error: the line, before building', async () => {
    const { build } = await fixture({}, { offline: true, dockerfile: 'FORM scratch\nCOPY app /app\n' });
    await fails(build([{ path: 'app', content: await h.helloBinary('x') }]), /^Dockerfile line 1: unknown instruction "FORM"$/);
  });

  test('errors only the engine finds are mapped to the Dockerfile line too', async () => {
    // A parse error the engine reports (HTTP 400) …
    const a = await fixture({}, { dockerfile: 'FROM scratch\nCOPY app /app\nHEALTHCHECK --interval=soon CMD ["/app"]\n' });
    await fails(a.build([{ path: 'app', content: await h.helloBinary('x') }]), /^Dockerfile line 3: time: invalid duration "soon"$/);

    // … and a step that fails while building.
    const b = await fixture({}, { dockerfile: 'FROM scratch\nCOPY app /app\n\nEXPOSE not-a-port\n', dockerfileName: 'step.Dockerfile' });
    const error = await fails(b.build([{ path: 'app', content: await h.helloBinary('x') }]), /^step\.Dockerfile line 4 \(EXPOSE not-a-port\): Invalid containerPort: not-a-port$/);
    assert.deepEqual(error.options.evidence?.[0], 'step.Dockerfile:4: EXPOSE not-a-port');
  });

  test('doctor runs the same preflight', async () => {
    const { config, staging } = await fixture();
    const binary = await h.helloBinary('doc');
    binary.writeUInt16LE(183, 18);
    await h.stage(staging, [{ path: 'app', content: binary }]);
    const stages = createDockerStages(config);
    const check = stages.doctor!.find((c) => c.name === 'image preflight')!;
    // out/app is not built yet: its last staged copy is what doctor can judge.
    const results = (await check.run(config, AbortSignal.timeout(10_000))).filter((r) => r.status !== 'ok' || !/will be staged by the first run/.test(r.message));
    assert.equal(results.length, 1, JSON.stringify(results));
    assert.equal(results[0]!.status, 'fail');
    assert.match(results[0]!.message, /^app is a 64-bit aarch64 executable/);
    await h.stage(staging, [{ path: 'app', content: await h.helloBinary('doc') }]);
    const fixed = await check.run(config, AbortSignal.timeout(10_000));
    assert.ok(fixed.every((r) => r.status === 'ok'), JSON.stringify(fixed));
    await stages.dispose();
  });

  test('doctor on a fresh checkout: a COPY source the first run will stage is not a failure (issue 10)', async () => {
    const root = await h.tempDir();
    roots.push(root);
    const name = h.uniqueName();
    services.push(name);
    await h.writeFile(h.path.join(root, 'Dockerfile'), 'FROM scratch\nCOPY staging/app /app\nCOPY config /config\n');
    await h.mkdir(h.path.join(root, 'config'), { recursive: true });
    await h.writeFile(h.path.join(root, 'config/app.yaml'), 'k: v\n');
    const service = h.makeService(name, { repository: `tl-test/${name}`, context: root, dockerfile: h.path.join(root, 'Dockerfile') }, h.path.join(root, 'staging'));
    const config = h.makeConfig(root, [service]);
    const stages = createDockerStages(config);
    const results = await stages.doctor!.find((c) => c.name === 'image preflight')!.run(config, AbortSignal.timeout(10_000));
    await stages.dispose();
    assert.deepEqual(results.filter((r) => r.status === 'fail'), []);
    assert.ok(results.some((r) => r.status === 'ok' && /staging\/app will be staged by the first run/.test(r.message)), JSON.stringify(results));
  });

  test('doctor fails a wrong stage.files even when an old staged copy would satisfy the COPY (issue 10)', async () => {
    const { config, staging } = await fixture({}, { dockerfile: 'FROM scratch\nCOPY server /server\n' });
    // stage.files stages out/app as "app"; an earlier config left "server" in the staging folder.
    await h.stage(staging, [{ path: 'server', content: await h.helloBinary('old') }]);
    const stages = createDockerStages(config);
    const results = await stages.doctor!.find((c) => c.name === 'image preflight')!.run(config, AbortSignal.timeout(10_000));
    await stages.dispose();
    const failed = results.filter((r) => r.status === 'fail');
    assert.equal(failed.length, 1, JSON.stringify(results));
    assert.match(failed[0]!.message, /COPY source "server" is not in the staging folder .* \(staged: app\)/);
  });
});
