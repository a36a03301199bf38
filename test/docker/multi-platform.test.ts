import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import tar from 'tar-stream';
import { countingProxy, type CountingProxy } from '../../bench/lib/counting-proxy.js';
import { compileStage } from '../../src/engine/compile/compile-stage.js';
import { loadConfig } from '../../src/engine/config/load.js';
import { readElf } from '../../src/engine/docker/context/elf.js';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { stagingStage } from '../../src/engine/staging/staging-stage.js';
import { StageError } from '../../src/engine/stages/stage.js';
import * as h from './helpers.js';

// image.platforms: compile and stage once per platform (real gcc and aarch64 cross gcc), ELF check
// per platform, one image per platform plus an OCI image index, read back from the real registry.
before(() => h.ensureServices());

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

let proxy: CountingProxy;
before(async () => {
  const [host, port] = h.REGISTRY.split(':');
  proxy = await countingProxy({ listen: { port: 0 }, upstream: { host: host!, port: Number(port) } });
  cleanups.push(() => proxy.close());
});

const HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n';

/** A workspace whose compile command builds out/<arch>/app with the platform's cross compiler. */
async function workspace(compileCommand: string, imageLines: string[] = [], files: Record<string, string> = {}) {
  const root = await h.tempDir('tl-multi-');
  const name = h.uniqueName();
  await h.writeFile(h.path.join(root, 'hello.c'), HELLO);
  for (const [file, text] of Object.entries(files)) await h.writeFile(h.path.join(root, file), text);
  await h.writeFile(
    h.path.join(root, 'tightloop.yaml'),
    [
      'version: 1',
      'services:',
      `  ${name}:`,
      '    compile:',
      `      command: ${JSON.stringify(compileCommand)}`,
      '    stage:',
      '      dir: build/staging',
      '      files:',
      '        - { from: "out/${arch}/app", to: app }',
      '    image:',
      `      repository: ${proxy.address}/tl-test/${name}`,
      '      platforms: [linux/amd64, linux/arm64]',
      ...imageLines.map((l) => `      ${l}`),
      '',
    ].join('\n'),
  );
  const config = await loadConfig(h.path.join(root, 'tightloop.yaml'), { ...process.env });
  const stages = createDockerStages(config, { env: { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config') } });
  cleanups.push(async () => {
    await stages.dispose();
    await h.rm(root, { recursive: true, force: true });
  });
  const run = async () => {
    const t = h.makeContext(config, name, {});
    for (const stage of [compileStage, stagingStage, stages.image!, stages.push!]) {
      const before = proxy.writes().length;
      try {
        await h.runStage(stage, t);
      } catch (error) {
        return { t, error, writesDuring: proxy.writes().slice(before) };
      }
    }
    if (t.outputs.deployRef) cleanups.push(() => h.deleteFromRegistry([t.outputs.deployRef!.replace(proxy.address, h.REGISTRY)]));
    return { t, error: undefined, writesDuring: [] };
  };
  return { root, name, config, run, settled: () => stages.settled() };
}

const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json';
async function get(path: string): Promise<Response> {
  const response = await fetch(`http://${h.REGISTRY}${path}`, { headers: { accept: ACCEPT } });
  assert.ok(response.ok, `${path}: HTTP ${response.status}`);
  return response;
}

/** The single file `app` of an image's layers, as bytes. */
async function appOf(repo: string, layers: { digest: string }[]): Promise<Buffer> {
  for (const layer of layers) {
    const bytes = Buffer.from(await (await get(`/v2/${repo}/blobs/${layer.digest}`)).arrayBuffer());
    const found = await new Promise<Buffer | undefined>((resolve, reject) => {
      let app: Buffer | undefined;
      const extract = tar.extract();
      extract.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: unknown) => chunks.push(c as Buffer));
        stream.on('end', () => {
          if (header.name === 'app') app = Buffer.concat(chunks);
          next();
        });
      });
      extract.on('finish', () => resolve(app));
      extract.on('error', reject);
      extract.end(bytes);
    });
    if (found) return found;
  }
  throw new Error('no app in the image');
}

describe('multi-platform images (image.platforms)', () => {
  test('two platforms: compiled once each with ${machine}/TIGHTLOOP_ARCH, pushed as an OCI index whose manifests carry the platform and whose app has the matching ELF machine', async () => {
    const w = await workspace('mkdir -p out/$TIGHTLOOP_ARCH && ${machine}-linux-gnu-gcc -static -O1 -o out/${arch}/app hello.c && echo built for ${platform}');
    const { t, error } = await w.run();
    assert.equal(error, undefined, `${String(error)}\n${t.logText()}`);
    assert.match(t.logText(), /built for linux\/amd64[\s\S]*built for linux\/arm64/);
    assert.match(t.outputs.deployRef!, /@sha256:[0-9a-f]{64}$/);

    const repo = `tl-test/${w.name}`;
    const indexResponse = await get(`/v2/${repo}/manifests/${t.outputs.digest}`);
    const index = (await indexResponse.json()) as { mediaType: string; manifests: { digest: string; mediaType: string; platform: { os: string; architecture: string } }[] };
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.manifests.map((m) => m.platform), [
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux' },
    ]);
    // The tag names the index too.
    const tag = t.outputs.imageRef!.split(':').pop();
    assert.equal((await get(`/v2/${repo}/manifests/${tag}`)).headers.get('docker-content-digest'), t.outputs.digest);

    const machines: Record<string, number> = {};
    for (const entry of index.manifests) {
      const manifest = (await (await get(`/v2/${repo}/manifests/${entry.digest}`)).json()) as { config: { digest: string }; layers: { digest: string }[] };
      const config = (await (await get(`/v2/${repo}/blobs/${manifest.config.digest}`)).json()) as { architecture: string; os: string };
      assert.equal(config.architecture, entry.platform.architecture, 'the config says the same platform as the index');
      const dir = await h.tempDir('tl-elf-');
      await h.writeFile(h.path.join(dir, 'app'), await appOf(repo, manifest.layers));
      machines[entry.platform.architecture] = (await readElf(h.path.join(dir, 'app')))!.machine;
      await h.rm(dir, { recursive: true, force: true });
    }
    assert.deepEqual(machines, { amd64: 62, arm64: 183 });

    // The amd64 entry runs here, pulled through the index.
    const ran = await h.dockerCli(['run', '--rm', '--network', 'none', '--platform', 'linux/amd64', `${h.REGISTRY}/${repo}@${t.outputs.digest}`]);
    assert.equal(ran.stdout.trim(), 'hello');
    await h.dockerCli(['rmi', `${h.REGISTRY}/${repo}@${t.outputs.digest}`], { reject: false });

    // Same sources again: compile + stage run, but the index tag is already there: nothing written.
    const before = proxy.writes().length;
    const again = await w.run();
    assert.equal(again.error, undefined, String(again.error));
    assert.equal(again.t.outputs.digest, t.outputs.digest);
    assert.deepEqual(proxy.writes().slice(before), []);
  });

  test('registry GC (image.keep: 1): an older index is deleted with the platform manifests it listed; the kept index and its manifests stay', async () => {
    const w = await workspace('mkdir -p out/$TIGHTLOOP_ARCH && ${machine}-linux-gnu-gcc -static -O1 -o out/${arch}/app hello.c', ['keep: 1']);
    const repo = `tl-test/${w.name}`;
    const childrenOf = async (digest: string) => ((await (await get(`/v2/${repo}/manifests/${digest}`)).json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest);
    const status = async (digest: string) => (await fetch(`http://${h.REGISTRY}/v2/${repo}/manifests/${digest}`, { method: 'HEAD', headers: { accept: ACCEPT } })).status;

    const first = await w.run();
    assert.equal(first.error, undefined, String(first.error));
    await w.settled();
    const oldIndex = first.t.outputs.digest!;
    const oldChildren = await childrenOf(oldIndex);
    assert.equal(oldChildren.length, 2);

    await h.writeFile(h.path.join(w.root, 'hello.c'), HELLO.replace('hello', 'hello again'));
    const second = await w.run();
    assert.equal(second.error, undefined, String(second.error));
    await w.settled();
    const newIndex = second.t.outputs.digest!;
    assert.notEqual(newIndex, oldIndex);
    assert.deepEqual(await Promise.all([oldIndex, ...oldChildren].map(status)), [404, 404, 404], 'the old index and both its platform manifests are gone');
    const newChildren = await childrenOf(newIndex);
    assert.deepEqual(await Promise.all(newChildren.map(status)), [200, 200], 'the kept index still resolves on both platforms');
  });

  test('a wrong-arch artifact for one platform is refused before any upload', async () => {
    // Both "platforms" built with the host compiler: the arm64 app is an x86-64 binary.
    const w = await workspace('mkdir -p out/${arch} && x86_64-linux-gnu-gcc -static -O1 -o out/${arch}/app hello.c');
    const before = proxy.requests.length;
    const { error, t } = await w.run();
    assert.ok(error instanceof StageError, `${String(error)}\n${t.logText()}`);
    assert.match(error.message, /^linux\/arm64: .*app is a 64-bit x86_64 executable but the image platform is linux\/arm64 \(aarch64\)/);
    assert.match(error.options.hint!, /nothing was uploaded for any platform/);
    assert.deepEqual(proxy.requests.slice(before), [], 'the registry was not even asked');
  });

  test('an image that needs the engine builder is a clear error, not a faked multi-platform image', async () => {
    await assert.rejects(workspace('true', ['base: tightloop-test/busybox:1']), (error: Error) => {
      assert.match(error.message, /tightloop\.yaml:\d+:\d+: services\.t[0-9a-f]+\.image\.platforms: several platforms are assembled without the engine, so image\.base must be scratch \(not tightloop-test\/busybox:1\)/);
      return true;
    });
    const w = await workspace('mkdir -p out/${arch} && ${machine}-linux-gnu-gcc -static -O1 -o out/${arch}/app hello.c', ['dockerfile: Dockerfile'], {
      Dockerfile: 'FROM scratch\nCOPY app /app\nRUN ["/app"]\n',
    });
    const before = proxy.requests.length;
    const { error } = await w.run();
    assert.ok(error instanceof StageError, String(error));
    assert.match(error.message, /^image\.platforms lists 2 platforms, but this image needs the engine path \(RUN on line 3 needs the builder\), which cannot build a multi-platform image here$/);
    assert.deepEqual(proxy.requests.slice(before), []);
  });
});
