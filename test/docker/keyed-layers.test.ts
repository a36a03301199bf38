import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { countingProxy, type CountingProxy } from '../../bench/lib/counting-proxy.js';
import { createDockerStages } from '../../src/engine/docker/index.js';
import * as h from './helpers.js';
import { imageFiles } from './registry-image.js';

// image.layers: declared layers keyed by their staged bytes (+ key files); an unchanged key reuses
// the blob with no tar, no gzip, no upload. Uploads are counted at the real registry (via a proxy).
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

const LAYERS = [
  { name: 'deps', files: ['lib/**'], key: ['Cargo.lock'] },
  { name: 'assets', files: ['assets/**'] },
];

async function setup() {
  const root = await h.tempDir();
  const name = h.uniqueName();
  await h.writeFile(h.path.join(root, 'Cargo.lock'), 'version = 3\n');
  const repository = `${proxy.address}/tl-test/${name}`;
  const service = h.makeService(name, { repository, layers: LAYERS }, h.path.join(root, 'staging'));
  service.stage!.files = [{ from: h.path.join(root, 'out', 'app'), to: 'app' }];
  const config = h.makeConfig(root, [service]);
  const pushed: string[] = [];
  const fresh = () => {
    const stages = createDockerStages(config, { env: { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config') } });
    cleanups.push(() => stages.dispose());
    return stages;
  };
  cleanups.push(async () => {
    await h.deleteFromRegistry(pushed.map((ref) => ref.replace(proxy.address, h.REGISTRY)));
    await h.rm(root, { recursive: true, force: true });
  });
  const deliver = async (stages: ReturnType<typeof fresh>, app: Buffer) => {
    const staged = await h.stage(h.path.join(root, 'staging'), [
      { path: 'app', content: app },
      { path: 'lib/libdep.so', content: h.padTo(Buffer.from('dep'), 256 * 1024, 'dep'), mode: 0o644 },
      { path: 'lib/sub/libmore.so', content: h.padTo(Buffer.from('more'), 64 * 1024, 'more'), mode: 0o644 },
      { path: 'assets/index.html', content: '<h1>hi</h1>\n', mode: 0o644 },
    ]);
    const t = h.makeContext(config, name, { ...staged });
    const before = proxy.writes().length;
    await h.runStage(stages.image!, t);
    await h.runStage(stages.push!, t);
    pushed.push(t.outputs.deployRef!);
    const writes = proxy.writes().slice(before);
    return { t, blobUploads: writes.filter((w) => w.startsWith('PUT ') && w.includes('/blobs/uploads/')).length, manifestPuts: writes.filter((w) => w.startsWith('PUT ') && w.includes('/manifests/')).length };
  };
  return { root, name, fresh, deliver };
}

describe('content-keyed layers (image.layers)', () => {
  test('an app-only change uploads only the app layer (and the config) and reuses every keyed layer, also in a new process', async () => {
    const s = await setup();
    const stages = s.fresh();
    const first = await s.deliver(stages, await h.helloBinary('v1'));
    assert.equal(first.blobUploads, 4, `deps, assets, app and config:\n${first.t.logText()}`);
    assert.match(first.t.logText(), /layer deps: rebuilt [0-9a-f]{12} \(.*\) in /);
    const files = await imageFiles(first.t.outputs.deployRef!.replace(proxy.address, h.REGISTRY));
    assert.deepEqual([...files.keys()].sort(), ['app', 'assets/index.html', 'lib/libdep.so', 'lib/sub/libmore.so']);

    const second = await s.deliver(stages, await h.helloBinary('v2'));
    assert.equal(second.blobUploads, 2, `only the app layer and the config:\n${second.t.logText()}`);
    assert.equal(second.manifestPuts, 1);
    assert.match(second.t.logText(), /layer deps: reused [0-9a-f]{12} \(.*, key unchanged\): no tar, no upload/);
    assert.match(second.t.logText(), /layer assets: reused /);
    assert.match(second.t.logText(), /layer COPY app \/app: rebuilt /);
    const after = await imageFiles(second.t.outputs.deployRef!.replace(proxy.address, h.REGISTRY));
    assert.equal(after.get('lib/libdep.so'), files.get('lib/libdep.so'), 'the reused layer still holds the dependency');
    assert.notEqual(after.get('app'), files.get('app'));

    // A new process (fresh runtime) reads the remembered keys from .tightloop/state.
    const third = await s.deliver(s.fresh(), await h.helloBinary('v3'));
    assert.equal(third.blobUploads, 2, third.t.logText());
    assert.match(third.t.logText(), /layer deps: reused /);

    // A changed key file rebuilds its layer (same bytes here, so the registry still has the blob).
    await h.writeFile(h.path.join(s.root, 'Cargo.lock'), 'version = 4\n');
    const fourth = await s.deliver(stages, await h.helloBinary('v4'));
    assert.match(fourth.t.logText(), /layer deps: rebuilt /);
    assert.match(fourth.t.logText(), /layer assets: reused /);
    assert.equal(fourth.blobUploads, 2, fourth.t.logText());
  });
});
