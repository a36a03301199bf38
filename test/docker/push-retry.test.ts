import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { StageError } from '../../src/engine/stages/stage.js';
import { faultyProxy, type FaultRule } from './faulty-proxy.js';
import * as h from './helpers.js';

// Transient registry failures during a direct push are retried (bounded, each retry logged with its
// cause); refusals are not. The registry is the real one, behind a proxy that injects the faults.
before(() => h.ensureServices());

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const [host, port] = h.REGISTRY.split(':');
const upstream = { host: host!, port: Number(port) };
const isManifestPut = (method: string, path: string) => method === 'PUT' && path.includes('/manifests/');
const isBlobPut = (method: string, path: string) => method === 'PUT' && path.includes('/blobs/uploads/');

async function pushThrough(rules: FaultRule[], files: { path: string; content: Buffer | string }[], options: { engine?: boolean } = {}) {
  const proxy = await faultyProxy(upstream, rules);
  cleanups.push(() => proxy.close());
  const root = await h.tempDir();
  const name = h.uniqueName();
  const repository = `${proxy.address}/tl-test/${name}`;
  const config = h.makeConfig(root, [h.makeService(name, { repository }, h.path.join(root, 'staging'))]);
  const env = { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config'), ...(options.engine && { TIGHTLOOP_ENGINE_BUILD: '1' }) };
  const stages = createDockerStages(config, { env, retry: { retries: 3, baseDelayMs: 10, maxDelayMs: 50 } });
  const t = h.makeContext(config, name, { ...(await h.stage(h.path.join(root, 'staging'), files)) });
  cleanups.push(async () => {
    await stages.dispose();
    if (t.outputs.deployRef) await h.deleteFromRegistry([t.outputs.deployRef.replace(proxy.address, h.REGISTRY)]);
    await h.rm(root, { recursive: true, force: true });
  });
  await h.runStage(stages.image!, t);
  const push = await h.runStage(stages.push!, t).catch((error: unknown) => error);
  const warnings = t.logs.filter((l) => l.stream === 'warn').map((l) => l.text);
  return { proxy, t, push, warnings };
}

describe('push retries (transient registry failures)', () => {
  test('a registry answering 503 twice to the manifest PUT, and cutting one blob upload, still gets the image: each retry logged with its cause', async () => {
    const manifest503: FaultRule = { match: isManifestPut, fault: { status: 503 }, times: 2 };
    const blobReset: FaultRule = { match: isBlobPut, fault: 'reset', times: 1 };
    const { proxy, t, push, warnings } = await pushThrough([manifest503, blobReset], [{ path: 'app', content: await h.helloBinary('retry') }]);
    assert.ok(!(push instanceof Error), `push failed: ${String(push)}\n${t.logText()}`);
    assert.equal(proxy.failed(manifest503), 2);
    assert.equal(proxy.failed(blobReset), 1);
    assert.equal(warnings.filter((w) => /^retry \d of 3 to store the manifest tl-[0-9a-f]+ in \d+ ms: registry .* failed storing the manifest: HTTP 503 UNAVAILABLE: injected by the test proxy$/.test(w)).length, 2, warnings.join('\n'));
    assert.equal(warnings.filter((w) => /^retry 1 of 3 to upload blob sha256:[0-9a-f]{12} in \d+ ms: connection reset \((ECONNRESET|socket hang up)\)/.test(w)).length, 1, warnings.join('\n'));
    // What the registry holds is the image itself (read back past the proxy).
    const files = await (await import('./registry-image.js')).imageFiles(t.outputs.deployRef!.replace(proxy.address, h.REGISTRY));
    assert.ok(files.has('app'));
  });

  test('a registry that always answers 500 to the manifest PUT: the push fails after a bounded number of attempts, naming the cause', async () => {
    const always: FaultRule = { match: isManifestPut, fault: { status: 500 }, times: Infinity };
    const { proxy, push, warnings } = await pushThrough([always], [{ path: 'app', content: await h.helloBinary('broken') }]);
    assert.ok(push instanceof StageError, String(push));
    assert.match(push.message, /^registry 127\.0\.0\.1:\d+ failed storing the manifest: HTTP 500 UNAVAILABLE: injected by the test proxy \(gave up after 4 attempts\)$/);
    assert.equal(proxy.failed(always), 4, 'first try + 3 retries, no more');
    assert.equal(warnings.filter((w) => w.startsWith('retry ')).length, 3);
  });

  test('engine path (docker push): a manifest PUT answered 503 twice is retried and the image arrives; each retry logged with the cause', async () => {
    const manifest503: FaultRule = { match: isManifestPut, fault: { status: 503 }, times: 2 };
    const { proxy, t, push, warnings } = await pushThrough([manifest503], [{ path: 'app', content: await h.helloBinary('engine-retry') }], { engine: true });
    assert.ok(!(push instanceof Error), `push failed: ${String(push)}\n${t.logText()}`);
    assert.equal(proxy.failed(manifest503), 2);
    const retries = warnings.filter((w) => w.startsWith('retry '));
    assert.equal(retries.length, 2, warnings.join('\n'));
    assert.match(retries[0]!, /^retry 1 of 3 to push 127\.0\.0\.1:\d+\/tl-test\/\S+:tl-[0-9a-f]+ in \d+ ms: the registry answered 503 Service Unavailable$/);
    const files = await (await import('./registry-image.js')).imageFiles(t.outputs.deployRef!.replace(proxy.address, h.REGISTRY));
    assert.ok(files.has('app'));
  });

  test('engine path: a registry that always answers 500 fails after the bounded attempts, naming the cause; a 400 is not retried', async () => {
    const always: FaultRule = { match: isManifestPut, fault: { status: 500 }, times: Infinity };
    const broken = await pushThrough([always], [{ path: 'app', content: await h.helloBinary('engine-broken') }], { engine: true });
    assert.ok(broken.push instanceof StageError, String(broken.push));
    assert.match(broken.push.message, /^push to 127\.0\.0\.1:\d+ failed: .*500 Internal Server Error.* \(gave up after 4 attempts\)$/);
    assert.equal(broken.proxy.failed(always), 4, 'first try + 3 retries, no more');

    const refused: FaultRule = { match: isManifestPut, fault: { status: 400 }, times: Infinity };
    const once = await pushThrough([refused], [{ path: 'app', content: await h.helloBinary('engine-refused') }], { engine: true });
    assert.ok(once.push instanceof StageError, String(once.push));
    assert.doesNotMatch(once.push.message, /gave up/);
    assert.equal(once.proxy.failed(refused), 1);
    assert.deepEqual(once.warnings.filter((w) => w.startsWith('retry ')), []);
  });

  test('a refusal (400 from the registry) is not retried', async () => {
    const refused: FaultRule = { match: isManifestPut, fault: { status: 400 }, times: Infinity };
    const { proxy, push, warnings } = await pushThrough([refused], [{ path: 'app', content: await h.helloBinary('refused') }]);
    assert.ok(push instanceof StageError, String(push));
    assert.match(push.message, /failed storing the manifest: HTTP 400/);
    assert.doesNotMatch(push.message, /gave up/);
    assert.equal(proxy.failed(refused), 1);
    assert.deepEqual(warnings.filter((w) => w.startsWith('retry ')), []);
  });

  test('dispose (config reload, deactivate) does not wait for a registry clean-up that hangs: it is stopped', async () => {
    const hangingDelete: FaultRule = { match: (method) => method === 'DELETE', fault: 'hang', times: Infinity };
    const proxy = await faultyProxy(upstream, [hangingDelete]);
    cleanups.push(() => proxy.close());
    const root = await h.tempDir();
    cleanups.push(() => h.rm(root, { recursive: true, force: true }));
    const name = h.uniqueName();
    const repository = `${proxy.address}/tl-test/${name}`;
    const staging = h.path.join(root, 'staging');
    const config = h.makeConfig(root, [h.makeService(name, { repository, keep: 1 }, staging)]);
    // The clean-up may take an hour: only stopping it lets dispose return.
    const stages = createDockerStages(config, { env: { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config') }, timeouts: { registryGcMs: 3_600_000, apiMs: 3_600_000 } });
    for (const version of ['one', 'two']) {
      const t = h.makeContext(config, name, { ...(await h.stage(staging, [{ path: 'app', content: await h.helloBinary(`gc-${version}`) }])) });
      await h.runStage(stages.image!, t);
      await h.runStage(stages.push!, t);
    }
    // keep: 1 — the second push's clean-up deletes the first tag, and the registry never answers.
    const deadline = Date.now() + 60_000;
    while (!proxy.requests.some((r) => r.startsWith('DELETE ') && r.endsWith(' !'))) {
      if (Date.now() > deadline) assert.fail(`no DELETE reached the registry: ${proxy.requests.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await stages.dispose();
    assert.ok(proxy.requests.some((r) => r.startsWith('DELETE ') && r.endsWith(' !')));
  });
});
