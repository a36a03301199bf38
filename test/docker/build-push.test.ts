import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import * as h from './helpers.js';

// Real engine, real loopback registry (127.0.0.1:5000), real static binaries; nothing mocked.
before(() => h.ensureServices());

describe('image + push against the real engine and registry', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function setup(image: { keep?: number; buildArgs?: Record<string, string> } = {}, docker: Parameters<typeof h.makeConfig>[2] = {}) {
    const root = await h.tempDir();
    const name = h.uniqueName();
    const repository = `${h.REGISTRY}/tl-test/${name}`;
    const config = h.makeConfig(root, [h.makeService(name, { repository, ...image }, h.path.join(root, 'staging'))], docker);
    // These tests are about the engine builder: force it (a registry push would otherwise go direct).
    const stages = createDockerStages(config, { env: { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config'), TIGHTLOOP_ENGINE_BUILD: '1' } });
    cleanups.push(async () => {
      await stages.dispose();
      await h.removeImages(name);
      await h.rm(root, { recursive: true, force: true });
    });
    const run = async (text: string, options: Parameters<typeof h.makeContext>[3] = {}) => {
      const staged = await h.stage(h.path.join(root, 'staging'), [{ path: 'app', content: await h.helloBinary(text) }]);
      const t = h.makeContext(config, name, { ...staged }, options);
      const result = await h.runStage(stages.image!, t);
      return { t, result };
    };
    return { root, name, repository, config, stages, run };
  }

  test('FROM scratch image from a static binary: push, pull back by digest, run with --network none', async () => {
    const { name, repository, stages, run } = await setup();
    const { t, result } = await run('round-trip');
    assert.equal(result.status ?? 'ok', 'ok');
    assert.match(t.outputs.imageRef!, new RegExp(`^${repository.replace(/\./g, '\\.')}:tl-[0-9a-f]{12}$`));
    assert.match(t.logText(), /Step \d+\/\d+ : COPY \. \//, 'build output is streamed into the stage log');

    const inspected = await h.docker.getImage(t.outputs.imageRef!).inspect();
    assert.equal(inspected.Config.Labels['dev.tightloop.service'], name);
    assert.equal(inspected.Config.Labels['dev.tightloop.managed'], 'true');
    assert.equal(inspected.Architecture, 'amd64');
    assert.deepEqual(inspected.Config.Entrypoint, ['/app']);

    const pushed = await h.runStage(stages.push!, t);
    cleanups.push(() => h.deleteFromRegistry([t.outputs.deployRef]));
    assert.match(t.outputs.digest!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(t.outputs.deployRef, `${repository}@${t.outputs.digest}`);
    assert.equal(t.outputs.delivery, 'push');
    assert.match(pushed.detail!, new RegExp(`pushed to ${h.REGISTRY_RE} .*image\\.repository names registry`));

    // Forget the local copy, then get it back from the registry by digest only.
    await h.removeImages(name);
    assert.equal(await h.imageExists(t.outputs.deployRef!), false);
    await h.dockerCli(['pull', t.outputs.deployRef!]);
    const ran = await h.dockerCli(['run', '--rm', '--network', 'none', t.outputs.deployRef!]);
    assert.equal(ran.stdout.trim(), 'hello from tightloop round-trip');
    await h.dockerCli(['rmi', t.outputs.deployRef!], { reject: false });
  });

  test('unchanged input skips the build; one changed byte gives a new tag', async () => {
    const { run } = await setup();
    const first = await run('same');
    const again = await run('same');
    assert.equal(again.result.status, 'skipped');
    assert.match(again.result.detail!, /already exists/);
    assert.equal(again.t.outputs.imageRef, first.t.outputs.imageRef);
    assert.equal(again.t.outputs.imageId, first.t.outputs.imageId);
    assert.doesNotMatch(again.t.logText(), /Step \d/, 'no build ran');

    const changed = await run('samE'); // one byte differs
    assert.equal(changed.result.status ?? 'ok', 'ok');
    assert.notEqual(changed.t.outputs.imageRef, first.t.outputs.imageRef);
    assert.notEqual(changed.t.outputs.imageId, first.t.outputs.imageId);
    // The old tag is still there (keep defaults to 5): the tag is the content, not "latest".
    assert.equal(await h.imageExists(first.t.outputs.imageRef!), true);
  });

  test('build args and platform are part of the tag, and the platform reaches the engine', async () => {
    const root = await h.tempDir();
    const name = h.uniqueName();
    // Not an ELF file, so any platform passes the preflight and FROM scratch builds anywhere.
    const staged = await h.stage(h.path.join(root, 'staging'), [{ path: 'app', content: '#!/bin/sh\necho hi\n' }]);
    const build = async (image: { buildArgs?: Record<string, string>; platform?: string; dockerfile?: string }, logs?: string[]) => {
      const config = h.makeConfig(root, [h.makeService(name, { repository: `tl-test/${name}`, ...image }, staged.stagingDir)]);
      const stages = createDockerStages(config);
      try {
        const t = h.makeContext(config, name, { ...staged });
        await h.runStage(stages.image!, t);
        logs?.push(t.logText());
        return t.outputs;
      } finally {
        await stages.dispose();
      }
    };
    try {
      const a = await build({ buildArgs: { MODE: 'a' } });
      const b = await build({ buildArgs: { MODE: 'b' } });
      const arm = await build({ buildArgs: { MODE: 'a' }, platform: 'linux/arm64' });
      assert.equal(new Set([a.imageRef, b.imageRef, arm.imageRef]).size, 3);
      assert.equal((await h.docker.getImage(arm.imageRef!).inspect()).Architecture, 'arm64');
      assert.equal((await build({ buildArgs: { MODE: 'a' } })).imageRef, a.imageRef, 'same inputs, same tag');

      // A user Dockerfile built for two platforms: the classic builder's cache ignores the platform
      // on FROM scratch, so the second build must notice and rebuild uncached.
      const dockerfile = h.path.join(root, 'Dockerfile');
      await h.writeFile(dockerfile, 'FROM scratch\nCOPY app /app\n');
      const native = await build({ dockerfile });
      const logs: string[] = [];
      const foreign = await build({ dockerfile, platform: 'linux/arm64' }, logs);
      assert.equal((await h.docker.getImage(native.imageRef!).inspect()).Architecture, 'amd64');
      assert.equal((await h.docker.getImage(foreign.imageRef!).inspect()).Architecture, 'arm64');
      assert.match(logs.join('\n'), /rebuilding without the cache/);
    } finally {
      await h.removeImages(name);
      await h.rm(root, { recursive: true, force: true });
    }
  });

  test('keeps the newest N images per service, never the protected one, never foreign images', async () => {
    const { name, repository, stages, run } = await setup({ keep: 2 });
    // Foreign images in the same repository: one without our labels, one with our labels but not our tag.
    await h.docker.getImage(process.env.TIGHTLOOP_TEST_IMAGE ?? 'tightloop-test/busybox:1').tag({ repo: repository, tag: 'user-made' });
    cleanups.push(() => h.removeImages('', [`${repository}:user-made`]));
    const handmade = h.path.join(await h.tempDir(), 'ctx');
    cleanups.push(() => h.rm(h.path.dirname(handmade), { recursive: true, force: true }));
    await h.mkdir(handmade, { recursive: true });
    await h.writeFile(h.path.join(handmade, 'Dockerfile'), `FROM scratch\nLABEL dev.tightloop.service=${name} dev.tightloop.managed=true\nCOPY Dockerfile /x\n`);
    await h.dockerCli(['build', '-q', '-t', `${repository}:handmade`, handmade]);

    // Cleanup follows delivery and runs in the background: deliver, then wait for it.
    const delivered = async (text: string, options: Parameters<typeof h.makeContext>[3] = {}) => {
      const version = await run(text, options);
      await h.runStage(stages.push!, version.t);
      cleanups.push(() => h.deleteFromRegistry([version.t.outputs.deployRef]));
      await stages.settled();
      return version;
    };
    const v1 = await delivered('gc-1');
    const v2 = await delivered('gc-2');
    // From here on v1 is what the cluster runs (the last success): it must survive although it is the oldest.
    const deployed = { lastSuccess: { imageId: v1.t.outputs.imageId, imageRef: v1.t.outputs.imageRef, digest: v1.t.outputs.digest } };
    const v3 = await delivered('gc-3', deployed);
    assert.doesNotMatch(v3.t.logText(), /removed/, 'v1 protected, v2 and v3 are the newest two');
    const v4 = await delivered('gc-4', deployed);

    assert.equal(await h.imageExists(v4.t.outputs.imageRef!), true, 'just built');
    assert.equal(await h.imageExists(v3.t.outputs.imageRef!), true, 'second newest');
    assert.equal(await h.imageExists(v1.t.outputs.imageRef!), true, 'protected (deployed)');
    assert.equal(await h.imageExists(v2.t.outputs.imageRef!), false, 'collected');
    assert.match(v4.t.logText(), /removed 1 old image tag/);
    assert.equal(await h.imageExists(`${repository}:user-made`), true, 'foreign image untouched');
    assert.equal(await h.imageExists(`${repository}:handmade`), true, 'labelled but not tl- tagged: untouched');
  });

  test('compatibility mode: repo-root context filtered by .dockerignore, size reported', async () => {
    const root = await h.tempDir();
    const name = h.uniqueName();
    await h.mkdir(h.path.join(root, 'build_artifacts'), { recursive: true });
    await h.mkdir(h.path.join(root, 'target', 'debug'), { recursive: true });
    await h.writeFile(h.path.join(root, 'build_artifacts', 'api'), await h.helloBinary('compat'), { mode: 0o755 });
    await h.writeFile(h.path.join(root, 'target', 'debug', 'huge.bin'), Buffer.alloc(8 * 1024 * 1024, 7));
    await h.writeFile(h.path.join(root, '.dockerignore'), '# build output\ntarget/\n*.md\n');
    await h.writeFile(h.path.join(root, 'README.md'), 'docs');
    await h.writeFile(h.path.join(root, 'Dockerfile'), 'FROM scratch\nCOPY build_artifacts/api /api\nENTRYPOINT ["/api"]\n');
    const service = h.makeService(name, { repository: `tl-test/${name}`, context: root, dockerfile: h.path.join(root, 'Dockerfile') });
    const config = h.makeConfig(root, [service]);
    const stages = createDockerStages(config, { largeContextBytes: 64 * 1024 });
    try {
      const t = h.makeContext(config, name, {});
      const result = await h.runStage(stages.image!, t);
      assert.equal(result.status ?? 'ok', 'ok');
      assert.match(t.logText(), /build context: .* filtered by \.dockerignore \(2 rules\): 3 files, \d+\.\d KiB/);
      assert.match(t.logText(), /\[warn\] the build context is large \(\d+\.\d KiB\)/);
      const ran = await h.dockerCli(['run', '--rm', '--network', 'none', t.outputs.imageRef!]);
      assert.equal(ran.stdout.trim(), 'hello from tightloop compat');
      // target/ never reached the engine: the image has only the binary's layer.
      const history = await h.docker.getImage(t.outputs.imageRef!).inspect();
      assert.ok(history.Size < 2 * 1024 * 1024, `image is ${history.Size} bytes`);
    } finally {
      await stages.dispose();
      await h.removeImages(name);
      await h.rm(root, { recursive: true, force: true });
    }
  });
});

describe('delivery decision', () => {
  test('a cluster sharing the build daemon: no push, the deploy uses the local tag', async () => {
    const root = await h.tempDir();
    const name = h.uniqueName();
    const config = h.makeConfig(root, [h.makeService(name, { repository: `tl-test/${name}` }, h.path.join(root, 'staging'))]);
    const stages = createDockerStages(config);
    try {
      const staged = await h.stage(h.path.join(root, 'staging'), [{ path: 'app', content: await h.helloBinary('shared') }]);
      const t = h.makeContext(config, name, { ...staged }, { facts: { context: 'docker-desktop', flavor: 'docker-desktop', sharesDockerDaemon: true, nodeArchitectures: ['amd64'] } });
      await h.runStage(stages.image!, t);
      const result = await h.runStage(stages.push!, t);
      assert.equal(result.status, 'skipped');
      assert.match(result.detail!, /shared daemon, no push: the docker-desktop cluster .* runs images straight from the build daemon/);
      assert.equal(t.outputs.deployRef, t.outputs.imageRef);
      assert.equal(t.outputs.delivery, 'shared-daemon');

      // Nodes of another architecture could never run it: refused before anything is delivered.
      const arm = h.makeContext(config, name, { ...t.outputs }, { facts: { context: 'colima', flavor: 'colima', sharesDockerDaemon: true, nodeArchitectures: ['arm64'] } });
      await assert.rejects(h.runStage(stages.push!, arm), /the image is linux\/amd64 but the nodes of cluster colima are arm64: its pods would fail with "exec format error"/);
    } finally {
      await stages.dispose();
      await h.removeImages(name);
      await h.rm(root, { recursive: true, force: true });
    }
  });

  test('a registry advertised by the cluster (KEP-1755): push there, deploy by digest under the runtime host name', async () => {
    const root = await h.tempDir();
    const name = h.uniqueName();
    const config = h.makeConfig(root, [h.makeService(name, { repository: `tl-test/${name}` }, h.path.join(root, 'staging'))]);
    const stages = createDockerStages(config);
    try {
      const staged = await h.stage(h.path.join(root, 'staging'), [{ path: 'app', content: await h.helloBinary('kep1755') }]);
      const facts = { context: 'kind-dev', flavor: 'kind', sharesDockerDaemon: false, nodeArchitectures: ['amd64'], kindClusterName: 'dev', localRegistry: { host: h.REGISTRY, hostFromContainerRuntime: 'kind-registry:5000' } };
      const t = h.makeContext(config, name, { ...staged }, { facts });
      await h.runStage(stages.image!, t);
      const result = await h.runStage(stages.push!, t);
      assert.match(result.detail!, new RegExp(`advertises registry ${h.REGISTRY_RE} in kube-public/local-registry-hosting`));
      assert.match(t.outputs.deployRef!, new RegExp(`^kind-registry:5000/tl-test/${name}@sha256:[0-9a-f]{64}$`));
      // The registry really has it, under the host-side name.
      const manifest = await fetch(`http://${h.REGISTRY}/v2/tl-test/${name}/manifests/${t.outputs.digest}`, {
        headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      assert.equal(manifest.status, 200);
      await h.deleteFromRegistry([`${h.REGISTRY}/tl-test/${name}@${t.outputs.digest}`]);
    } finally {
      await stages.dispose();
      await h.removeImages(name);
      await h.rm(root, { recursive: true, force: true });
    }
  });

  test('a kind cluster without a registry: kind load, with a clear error when kind is missing', async () => {
    const root = await h.tempDir();
    const name = h.uniqueName();
    const config = h.makeConfig(root, [h.makeService(name, { repository: `tl-test/${name}` }, h.path.join(root, 'staging'))]);
    // PATH without kind: deterministic whatever is installed on the machine.
    const stages = createDockerStages(config, { env: { PATH: root, HOME: root } });
    try {
      const staged = await h.stage(h.path.join(root, 'staging'), [{ path: 'app', content: await h.helloBinary('kind') }]);
      const t = h.makeContext(config, name, { ...staged }, { facts: { context: 'kind-dev', flavor: 'kind', sharesDockerDaemon: false, nodeArchitectures: ['amd64'], kindClusterName: 'dev' } });
      await h.runStage(stages.image!, t);
      await assert.rejects(h.runStage(stages.push!, t), (error: Error) => {
        h.assertOneLine(error.message);
        assert.match(error.message, /`kind` is not on PATH/);
        return true;
      });
      assert.match(t.logText(), /delivery: kind-load: kind cluster "dev" has no local registry/);
      assert.match(t.logText(), /\[warn\] kind load .* slow/);
    } finally {
      await stages.dispose();
      await h.removeImages(name);
      await h.rm(root, { recursive: true, force: true });
    }
  });
});
