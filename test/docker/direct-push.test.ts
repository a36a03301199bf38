import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { countingProxy, type CountingProxy } from '../../bench/lib/counting-proxy.js';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { StageError } from '../../src/engine/stages/stage.js';
import * as h from './helpers.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, freePort, startRegistry } from './processes.js';

// The direct path: image assembled in-process, pushed over the registry API; no engine build.
// Real registry (behind a counting proxy, to see every upload), real docker pull + run.
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

type Files = { path: string; content: Buffer | string; mode?: number }[];

async function setup(options: { dockerfile?: string; registry?: string; env?: Record<string, string>; timeouts?: Record<string, number>; layerCompression?: 'gzip' | 'none' } = {}) {
  const root = await h.tempDir();
  const name = h.uniqueName();
  const registry = options.registry ?? proxy.address;
  const repository = `${registry}/tl-test/${name}`;
  let dockerfile: string | undefined;
  if (options.dockerfile) {
    dockerfile = h.path.join(root, 'Dockerfile');
    await h.writeFile(dockerfile, options.dockerfile);
  }
  const config = h.makeConfig(root, [h.makeService(name, { repository, ...(dockerfile && { dockerfile }) }, h.path.join(root, 'staging'))]);
  const env = { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config'), ...options.env };
  const stages = createDockerStages(config, { env, timeouts: options.timeouts, layerCompression: options.layerCompression });
  const pushed: string[] = [];
  cleanups.push(async () => {
    await stages.dispose();
    await h.deleteFromRegistry(pushed.map((ref) => ref.replace(registry, h.REGISTRY)));
    await h.removeImages(name, pushed);
    await h.rm(root, { recursive: true, force: true });
  });
  const image = async (files: Files, context: Parameters<typeof h.makeContext>[3] = {}) => {
    const staged = await h.stage(h.path.join(root, 'staging'), files);
    const t = h.makeContext(config, name, { ...staged }, context);
    const result = await h.runStage(stages.image!, t);
    return { t, result };
  };
  const both = async (files: Files) => {
    const { t, result } = await image(files);
    const before = proxy.writes().length;
    const push = await h.runStage(stages.push!, t);
    if (t.outputs.deployRef) pushed.push(t.outputs.deployRef);
    return { t, image: result, push, writes: proxy.writes().slice(before) };
  };
  return { root, name, repository, config, stages, image, both, pushed };
}

/** Pulls repo@digest from the registry itself (the proxy is only for counting) and runs it offline. */
async function pullAndRun(deployRef: string, registry = proxy.address): Promise<{ stdout: string; inspect: Record<string, unknown> }> {
  const ref = deployRef.replace(registry, h.REGISTRY);
  await h.dockerCli(['pull', ref]);
  const ran = await h.dockerCli(['run', '--rm', '--network', 'none', ref]);
  const inspect = JSON.parse((await h.dockerCli(['image', 'inspect', ref])).stdout)[0] as Record<string, unknown>;
  await h.dockerCli(['rmi', ref], { reject: false });
  return { stdout: ran.stdout.trim(), inspect };
}

describe('direct push (no engine build)', () => {
  test('the example Dockerfile (FROM scratch, COPY, EXPOSE, USER, ENTRYPOINT): assembled, pushed, pulled by digest and run', async () => {
    const s = await setup({ dockerfile: '# thin image\nFROM scratch\nCOPY hello /hello\nEXPOSE 8080\nUSER 65534:65534\nENTRYPOINT ["/hello"]\n' });
    const { t, image, push } = await s.both([{ path: 'hello', content: await h.helloBinary('direct example') }]);
    assert.match(image.detail!, /assembled .* in-process .*: direct push: FROM scratch \+ COPY only, no engine build$/);
    assert.doesNotMatch(t.logText(), /Step \d/, 'no engine build ran');
    assert.equal(await h.imageExists(t.outputs.imageRef!), false, 'nothing in the local engine');
    assert.match(push.detail!, /^pushed to 127\.0\.0\.1:\d+ directly .*: 2 of 2 blobs uploaded/);
    assert.equal(t.outputs.deployRef, `${s.repository}@${t.outputs.digest}`);
    assert.equal(t.outputs.delivery, 'push');

    const { stdout, inspect } = await pullAndRun(t.outputs.deployRef!);
    assert.equal(stdout, 'hello from tightloop direct example');
    const config = inspect.Config as { Entrypoint: string[]; User: string; ExposedPorts: Record<string, unknown>; Labels: Record<string, string> };
    assert.deepEqual(config.Entrypoint, ['/hello']);
    assert.equal(config.User, '65534:65534');
    assert.deepEqual(Object.keys(config.ExposedPorts), ['8080/tcp']);
    assert.equal(config.Labels['dev.tightloop.service'], s.name);
    assert.equal(config.Labels['dev.tightloop.managed'], 'true');
    assert.equal(config.Labels['dev.tightloop.platform'], 'linux/amd64');
    assert.equal(inspect.Architecture, 'amd64');
    assert.equal(inspect.Id, t.outputs.imageId, 'the image ID is the config digest');
  });

  test('generated Dockerfile: same input gives the same digest and uploads nothing; one changed file uploads only its layer', async () => {
    const s = await setup();
    const app = await h.helloBinary('generated');
    const files = (data: string) => [
      { path: 'app', content: app },
      { path: 'conf/data.txt', content: data, mode: 0o644 },
    ];
    const first = await s.both(files('v1'));
    assert.match(first.image.detail!, /direct push: generated Dockerfile/);
    assert.match(first.push.detail!, /3 of 3 blobs uploaded/);
    assert.equal((await pullAndRun(first.t.outputs.deployRef!)).stdout, 'hello from tightloop generated');

    // Same input: the tag is in the registry, so nothing is assembled or written.
    const again = await s.both(files('v1'));
    assert.equal(again.image.status, 'skipped');
    assert.match(again.image.detail!, /^unchanged tag already in registry/);
    assert.equal(again.t.outputs.digest, first.t.outputs.digest);
    assert.deepEqual(again.writes, [], 'no POST/PUT reached the registry');

    // Assembled again from scratch (tag gone, fresh process state): byte-identical, so 0 blobs uploaded.
    await h.deleteFromRegistry([first.t.outputs.deployRef!.replace(proxy.address, h.REGISTRY)]);
    const fresh = createDockerStages(s.config, { env: { ...process.env, DOCKER_CONFIG: h.path.join(s.root, 'docker-config') } });
    try {
      const t = h.makeContext(s.config, s.name, { ...(await h.stage(h.path.join(s.root, 'staging'), files('v1'))) });
      assert.equal((await h.runStage(fresh.image!, t)).status ?? 'ok', 'ok');
      const before = proxy.writes().length;
      const push = await h.runStage(fresh.push!, t);
      assert.match(push.detail!, /0 of 3 blobs uploaded/);
      assert.equal(t.outputs.digest, first.t.outputs.digest, 'same bytes, same digest');
      assert.deepEqual(proxy.writes().slice(before).map((w) => w.replace(/[^ ]+$/, (p) => p.split('/').slice(-2, -1)[0]!)), ['PUT manifests'], 'only the manifest');
    } finally {
      await fresh.dispose();
    }

    // One changed file: its layer and the config are new, the binary's layer is reused.
    const changed = await s.both(files('v2'));
    assert.match(changed.push.detail!, /2 of 3 blobs uploaded/);
    assert.notEqual(changed.t.outputs.digest, first.t.outputs.digest);
    assert.equal(changed.writes.filter((w) => w.startsWith('PUT ') && w.includes('/blobs/uploads/')).length, 2);
    const manifest = async (digest: string) =>
      (await (await fetch(`http://${h.REGISTRY}/v2/tl-test/${s.name}/manifests/${digest}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).json()) as { layers: { digest: string }[] };
    const [oldLayers, newLayers] = [(await manifest(first.t.outputs.digest!)).layers, (await manifest(changed.t.outputs.digest!)).layers];
    assert.equal(newLayers[0]!.digest, oldLayers[0]!.digest, 'app layer reused');
    assert.notEqual(newLayers[1]!.digest, oldLayers[1]!.digest, 'conf layer new');
  });

  test('gzip layers (what a registry that is not loopback gets): uploaded once, pulled by digest and run', async () => {
    const s = await setup({ layerCompression: 'gzip' });
    const { t, image, push } = await s.both([{ path: 'app', content: h.padTo(await h.helloBinary('gzip'), 3 * 1024 * 1024, 'gzip') }]);
    assert.match(image.detail!, /direct push: generated Dockerfile/);
    assert.match(t.logText(), /assembled .*: 1 layer\(s\), .* \(gzip\)/);
    assert.match(push.detail!, /2 of 2 blobs uploaded/);
    assert.equal((await pullAndRun(t.outputs.deployRef!)).stdout, 'hello from tightloop gzip');
  });

  test('a Dockerfile with RUN takes the engine path and says why', async () => {
    const s = await setup({ dockerfile: 'FROM scratch\nCOPY app /app\nENV GREETING=hi\nRUN ["/app"]\nENTRYPOINT ["/app"]\n' });
    const outcome = await s.image([{ path: 'app', content: await h.helloBinary('engine') }]).then(
      ({ t, result }) => ({ t, detail: result.detail! }),
      (error: Error) => ({ t: undefined, detail: error.message }),
    );
    // The builder ran the RUN step: it either succeeded, or (an engine without a bridge network,
    // as in some CI sandboxes) failed in that step; both prove the engine path was taken.
    assert.match(outcome.detail, /^built .* \(engine build: RUN on line 4 needs the builder\)$|^Dockerfile line 4 \(RUN \["\/app"\]\): /);
  });

  test('an instruction outside the subset (STOPSIGNAL): engine build and engine push, pulled and run', async () => {
    const s = await setup({ dockerfile: 'FROM scratch\nCOPY app /app\nSTOPSIGNAL SIGINT\nENTRYPOINT ["/app"]\n' });
    const { t, image, push } = await s.both([{ path: 'app', content: await h.helloBinary('engine') }]);
    assert.match(image.detail!, /^built .* \(engine build: STOPSIGNAL on line 3 needs the builder\)$/);
    assert.match(t.logText(), /engine build: STOPSIGNAL on line 3 needs the builder/);
    assert.match(t.logText(), /Step 3\/\d+ : STOPSIGNAL SIGINT/);
    assert.match(push.detail!, /^pushed to 127\.0\.0\.1:\d+ \(/);
    assert.doesNotMatch(push.detail!, /directly/);
    assert.equal((await pullAndRun(t.outputs.deployRef!)).stdout, 'hello from tightloop engine');
  });

  test('TIGHTLOOP_ENGINE_BUILD=1 forces the engine path', async () => {
    const s = await setup({ env: { TIGHTLOOP_ENGINE_BUILD: '1' } });
    const { image } = await s.both([{ path: 'app', content: await h.helloBinary('forced') }]);
    assert.match(image.detail!, /\(engine build: TIGHTLOOP_ENGINE_BUILD=1 is set\)$/);
  });
});

describe('direct push faults', () => {
  async function failsWithin(withinMs: number, promise: Promise<unknown>, pattern: RegExp): Promise<StageError> {
    const started = Date.now();
    const caught = await promise.then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(caught instanceof StageError, `expected a StageError, got ${String(caught)}`);
    h.assertOneLine(caught.message);
    assert.match(caught.message, pattern);
    assert.ok(Date.now() - started < withinMs, `took ${Date.now() - started} ms`);
    return caught;
  }

  test('a staged file changed between the image and push steps (same size): the registry refuses its layer by digest, no manifest names it', async () => {
    // The push re-reads the files without hashing each again: the blob's digest was measured from
    // checked bytes, and the registry takes an upload only when its bytes have that digest.
    const s = await setup();
    const app = Buffer.concat([await h.helloBinary('changed before push'), Buffer.alloc(3 * 1024 * 1024, 1)]);
    const { t } = await s.image([{ path: 'app', content: app }]);
    const changed = Buffer.from(app);
    changed[changed.length - 10] = 2;
    await h.writeFile(h.path.join(s.root, 'staging', 'app'), changed);
    await failsWithin(60_000, h.runStage(s.stages.push!, t), /^a staged file changed while it was being pushed \(registry 127\.0\.0\.1:\d+: digest mismatch for sha256:/);
    assert.equal(t.outputs.deployRef, undefined);
    const tag = t.outputs.imageRef!.split(':').pop()!;
    const reply = await fetch(`http://${h.REGISTRY}/v2/tl-test/${s.name}/manifests/${tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(reply.status, 404, 'no manifest under the tag');
  });

  test('registry requiring auth: one-line refusal without credentials, pushes with them', async () => {
    const dir = await h.tempDir('tl-auth-reg-');
    const registry = await startRegistry(h.path.join(dir, 'registry'), { auth: true });
    cleanups.push(async () => {
      await registry.stop();
      await h.rm(dir, { recursive: true, force: true });
    });
    const s = await setup({ registry: registry.host });
    const { t } = await s.image([{ path: 'app', content: await h.helloBinary('auth') }]);
    await failsWithin(10_000, h.runStage(s.stages.push!, t), new RegExp(`^registry ${registry.host.replace(/\./g, '\\.')} refused the push: HTTP 401 (Unauthorized|UNAUTHORIZED: authentication required) \\(credentials: none`));

    await h.mkdir(h.path.join(s.root, 'docker-config'), { recursive: true });
    const auth = Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64');
    await h.writeFile(h.path.join(s.root, 'docker-config', 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
    const withCredentials = createDockerStages(s.config, { env: { ...process.env, DOCKER_CONFIG: h.path.join(s.root, 'docker-config') } });
    try {
      const again = h.makeContext(s.config, s.name, { ...t.outputs, imageRef: undefined, imageId: undefined });
      await h.runStage(withCredentials.image!, again);
      const pushed = await h.runStage(withCredentials.push!, again);
      assert.match(pushed.detail!, /directly .* blobs uploaded/);
      const reply = await fetch(`http://${registry.host}/v2/tl-test/${s.name}/manifests/${again.outputs.digest}`, {
        method: 'HEAD',
        headers: { authorization: `Basic ${auth}`, accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get('docker-content-digest'), again.outputs.digest);
    } finally {
      await withCredentials.dispose();
    }
  });

  test('a token-auth registry (401 Bearer realm): basic auth to the realm, then the token on every call', async () => {
    // A minimal registry front: it checks the token and records what it saw; blobs all "exist".
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const auth = req.headers.authorization ?? '';
      if (url.pathname === '/token') {
        seen.push(`token ${url.searchParams.get('service')} ${url.searchParams.get('scope')} ${auth}`);
        const ok = auth === `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}`;
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(ok ? JSON.stringify({ token: 'tok-123' }) : '{}');
        return;
      }
      if (auth !== 'Bearer tok-123') {
        const { port } = server.address() as net.AddressInfo;
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="fake-registry",scope="repository:x:pull,push"` });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      seen.push(`${req.method} ${url.pathname.replace(/sha256:\w+/, 'DIGEST').replace(/tl-[0-9a-f]{12}$/, 'TAG')}`);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'PUT') res.writeHead(201, { 'docker-content-digest': `sha256:${createHash('sha256').update(Buffer.concat(chunks)).digest('hex')}` }).end();
        else res.writeHead(req.method === 'HEAD' && url.pathname.includes('/blobs/') ? 200 : 404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const s = await setup({ registry: host });
    await h.mkdir(h.path.join(s.root, 'docker-config'), { recursive: true });
    await h.writeFile(h.path.join(s.root, 'docker-config', 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64') } } }));
    const { t, push } = await s.both([{ path: 'app', content: await h.helloBinary('token') }]);
    s.pushed.length = 0; // nothing reached the real registry
    assert.match(push.detail!, /0 of 2 blobs uploaded/);
    assert.match(t.outputs.digest!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(seen.filter((l) => l.startsWith('token ')).length, 1, 'the push reuses the session (and token) of the image stage');
    assert.match(seen[0]!, /^token fake-registry repository:x:pull,push Basic /);
    assert.deepEqual(seen.filter((l) => !l.startsWith('token ')), [`GET /v2/tl-test/${s.name}/manifests/TAG`, ...Array(2).fill(`HEAD /v2/tl-test/${s.name}/blobs/DIGEST`), `PUT /v2/tl-test/${s.name}/manifests/TAG`]);
  });

  test('registry down: the image stage still assembles; the push fails in one line, fast', async () => {
    const port = await freePort();
    const s = await setup({ registry: `127.0.0.1:${port}` });
    const { t, result } = await s.image([{ path: 'app', content: await h.helloBinary('down') }]);
    assert.equal(result.status ?? 'ok', 'ok');
    assert.match(t.logText(), /\[warn\] could not look tl-\w+ up in 127\.0\.0\.1:\d+: registry .* is not reachable/);
    await failsWithin(5000, h.runStage(s.stages.push!, t), new RegExp(`^registry 127\\.0\\.0\\.1:${port} is not reachable \\(could not look up a blob in it\\): connection refused$`));
  });

  test('a registry that accepts but never answers: bounded by the API timeout, and ctx.signal cancels at once', async () => {
    const accepted: net.Socket[] = [];
    const silent = net.createServer((socket) => accepted.push(socket)); // reads nothing, answers nothing
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of accepted) socket.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const host = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const s = await setup({ registry: host, timeouts: { apiMs: 700 } });
    const { t } = await s.image([{ path: 'app', content: await h.helloBinary('silent') }]);
    await failsWithin(4000, h.runStage(s.stages.push!, t), /is not reachable \(could not look up a blob in it\): no answer within 0\.7 s$/);

    const patient = createDockerStages(s.config, { timeouts: { apiMs: 60_000 } });
    cleanups.push(() => patient.dispose());
    // A patient timeout: only the caller's cancellation can end the wait for the tag lookup.
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user cancelled')), 300);
    const started = Date.now();
    await assert.rejects(h.runStage(patient.image!, h.makeContext(s.config, s.name, { ...t.outputs, imageRef: undefined }, { signal: controller.signal })), /user cancelled/);
    assert.ok(Date.now() - started < 3000, `cancel took ${Date.now() - started} ms`);
  });
});
