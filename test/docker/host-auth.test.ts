import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { registryCredentials } from '../../src/engine/docker/registry/auth.js';
import { resolveDockerEndpoint } from '../../src/engine/docker/daemon/host.js';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { StageError } from '../../src/engine/stages/stage.js';
import * as h from './helpers.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, freePort, startRegistry } from './processes.js';

before(() => h.ensureServices());

/** A fake home with ~/.docker/config.json and docker contexts, laid out like the docker CLI does. */
async function dockerHome(config: object, contexts: Record<string, string> = {}): Promise<string> {
  const home = await h.tempDir('tl-home-');
  const dir = h.path.join(home, '.docker');
  await h.mkdir(dir, { recursive: true });
  await h.writeFile(h.path.join(dir, 'config.json'), JSON.stringify(config));
  for (const [name, host] of Object.entries(contexts)) {
    const meta = h.path.join(dir, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'));
    await h.mkdir(meta, { recursive: true });
    await h.writeFile(h.path.join(meta, 'meta.json'), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }));
  }
  return home;
}

describe('which Docker engine (DOCKER_HOST and docker contexts)', () => {
  test('precedence: docker.host, DOCKER_HOST, DOCKER_CONTEXT, currentContext, default socket', async () => {
    const home = await dockerHome({ currentContext: 'colima' }, { colima: 'unix:///run/colima.sock', other: 'tcp://127.0.0.1:2375' });
    try {
      const env = { DOCKER_HOST: 'unix:///run/env.sock', DOCKER_CONTEXT: 'other' };
      assert.deepEqual(pick(resolveDockerEndpoint('unix:///run/config.sock', env, home)), ['unix:///run/config.sock', 'docker.host in tightloop.yaml']);
      assert.deepEqual(pick(resolveDockerEndpoint(undefined, env, home)), ['unix:///run/env.sock', 'DOCKER_HOST']);
      assert.deepEqual(pick(resolveDockerEndpoint(undefined, { DOCKER_CONTEXT: 'other' }, home)), ['tcp://127.0.0.1:2375', "docker context 'other'"]);
      assert.deepEqual(pick(resolveDockerEndpoint(undefined, {}, home)), ['unix:///run/colima.sock', "docker context 'colima'"]);
      assert.deepEqual(pick(resolveDockerEndpoint(undefined, {}, h.path.join(home, 'nowhere'))), ['unix:///var/run/docker.sock', 'default socket']);
      assert.deepEqual(pick(resolveDockerEndpoint(undefined, { DOCKER_CONTEXT: 'default' }, home)), ['unix:///var/run/docker.sock', 'default socket']);
      const tcp = resolveDockerEndpoint(undefined, { DOCKER_CONTEXT: 'other' }, home).modem;
      assert.equal(tcp.host, '127.0.0.1');
      assert.equal(String(tcp.port), '2375');
      assert.equal(tcp.protocol, 'http');
      assert.throws(() => resolveDockerEndpoint(undefined, { DOCKER_CONTEXT: 'gone' }, home), (error: Error) => /^docker context 'gone' \(from DOCKER_CONTEXT\) does not exist/.test(error.message));
    } finally {
      await h.rm(home, { recursive: true, force: true });
    }
  });

  test('the stages and doctor really go through the current docker context', async () => {
    const dead = 'unix:///tmp/tightloop-no-such-dir/dead.sock';
    const home = await dockerHome({ currentContext: 'tl-live' }, { 'tl-live': `unix://${h.MAIN_SOCKET}`, 'tl-dead': dead });
    const root = await h.tempDir();
    const name = h.uniqueName();
    const config = h.makeConfig(root, [h.makeService(name, { repository: `tl-test/${name}` }, h.path.join(root, 'staging'))]);
    const env = { PATH: process.env.PATH };
    const live = createDockerStages(config, { env, home });
    const down = createDockerStages(config, { env: { ...env, DOCKER_CONTEXT: 'tl-dead' }, home });
    try {
      const [ok] = await live.doctor!.find((c) => c.name === 'docker')!.run(config, AbortSignal.timeout(10_000));
      assert.equal(ok!.status, 'ok');
      assert.match(ok!.message, /^Docker engine .* at unix:\/\/.* \(docker context 'tl-live'\)$/);
      const staged = await h.stage(h.path.join(root, 'staging'), [{ path: 'app', content: await h.helloBinary('ctx') }]);
      const t = h.makeContext(config, name, { ...staged });
      await h.runStage(live.image!, t);
      assert.match(t.logText(), /building .* on unix:\/\//);

      await assert.rejects(h.runStage(down.image!, h.makeContext(config, name, { ...staged })), (error: Error) => {
        assert.ok(error instanceof StageError);
        assert.match(error.message, /^Docker engine is not running: there is no socket at .*dead\.sock \(docker context 'tl-dead'\)$/);
        return true;
      });
    } finally {
      await live.dispose();
      await down.dispose();
      await h.removeImages(name);
      await h.rm(root, { recursive: true, force: true });
      await h.rm(home, { recursive: true, force: true });
    }
  });
});

function pick(endpoint: { url: string; source: string }): [string, string] {
  return [endpoint.url, endpoint.source];
}

describe('registry credentials from ~/.docker/config.json', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await h.rm(dir, { recursive: true, force: true });
  });

  /** A config dir plus a bin dir holding real docker-credential-* executables. */
  async function setup(config: object, helpers: Record<string, string> = {}) {
    const dir = await h.tempDir('tl-auth-');
    dirs.push(dir);
    await h.writeFile(h.path.join(dir, 'config.json'), JSON.stringify(config));
    await h.mkdir(h.path.join(dir, 'bin'));
    for (const [name, script] of Object.entries(helpers)) await h.writeFile(h.path.join(dir, 'bin', `docker-credential-${name}`), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    const lookup = { configDir: dir, env: { PATH: `${h.path.join(dir, 'bin')}:/usr/bin:/bin` }, signal: AbortSignal.timeout(10_000), timeoutMs: 5000 };
    return (registry: string) => registryCredentials(registry, lookup);
  }

  const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

  test('inline auths (keys with or without scheme), identity tokens, anonymous otherwise', async () => {
    const lookup = await setup({
      auths: {
        'http://127.0.0.1:5001': { auth: basic('alice', 'pw:with:colons') },
        'registry.example.com': { identitytoken: 'tok-1' },
        'https://index.docker.io/v1/': { auth: basic('hub', 'hubpw') },
      },
    });
    assert.deepEqual((await lookup('127.0.0.1:5001')).auth, { username: 'alice', password: 'pw:with:colons', serveraddress: '127.0.0.1:5001' });
    assert.deepEqual((await lookup('registry.example.com')).auth, { identitytoken: 'tok-1', serveraddress: 'registry.example.com' });
    assert.deepEqual((await lookup('docker.io')).auth, { username: 'hub', password: 'hubpw', serveraddress: 'https://index.docker.io/v1/' });
    const none = await lookup('127.0.0.1:5999');
    assert.equal(none.auth, undefined);
    assert.match(none.source, /^none for 127\.0\.0\.1:5999/);
  });

  test('credHelpers per registry, credsStore for the rest, "<token>" as identity token', async () => {
    const lookup = await setup(
      { credsStore: 'store', credHelpers: { 'gcr.example': 'gcr' }, auths: { 'fallback.example': { auth: basic('f', 'fp') } } },
      {
        // Reads the server from stdin like the real protocol; knows only one server.
        store: 'read s; if [ "$s" = "127.0.0.1:5001" ]; then echo \'{"ServerURL":"127.0.0.1:5001","Username":"bob","Secret":"s3"}\'; else echo "credentials not found in native keychain"; exit 1; fi',
        gcr: 'read s; echo \'{"ServerURL":"gcr.example","Username":"<token>","Secret":"refresh-token"}\'',
      },
    );
    const fromStore = await lookup('127.0.0.1:5001');
    assert.deepEqual(fromStore.auth, { username: 'bob', password: 's3', serveraddress: '127.0.0.1:5001' });
    assert.match(fromStore.source, /^credsStore "store"/);
    const fromHelper = await lookup('gcr.example');
    assert.deepEqual(fromHelper.auth, { identitytoken: 'refresh-token', serveraddress: 'gcr.example' });
    assert.match(fromHelper.source, /^credHelpers "gcr"/);
    // The store does not know it: fall back to the inline entry.
    assert.deepEqual((await lookup('fallback.example')).auth, { username: 'f', password: 'fp', serveraddress: 'fallback.example' });
  });

  test('a missing helper, a failing helper and a broken config.json are one-line errors', async () => {
    const missing = await setup({ credHelpers: { 'r.example': 'not-installed' } });
    await assert.rejects(missing('r.example'), /^StageError: credential helper docker-credential-not-installed \(named in .*config\.json\) is not installed or not on PATH$/);
    const failing = await setup({ credsStore: 'broken' }, { broken: 'echo "keychain locked" >&2; exit 3' });
    await assert.rejects(failing('r.example'), /^StageError: credential helper docker-credential-broken failed: keychain locked$/);
    const dir = await h.tempDir('tl-auth-');
    dirs.push(dir);
    await h.writeFile(h.path.join(dir, 'config.json'), '{ "auths": ');
    await assert.rejects(registryCredentials('r.example', { configDir: dir, env: {}, signal: AbortSignal.timeout(5000), timeoutMs: 1000 }), /is not valid JSON/);
  });
});

describe('doctor: registry reachability, bounded', () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  async function doctor(registry: string, options: { configDir?: string; probeMs?: number } = {}) {
    const root = await h.tempDir();
    stops.push(() => h.rm(root, { recursive: true, force: true }));
    const config = h.makeConfig(root, [h.makeService('svc', { repository: `${registry}/svc` })]);
    const stages = createDockerStages(config, { env: { PATH: process.env.PATH, DOCKER_CONFIG: options.configDir ?? root }, timeouts: { registryProbeMs: options.probeMs ?? 5000 } });
    try {
      const started = Date.now();
      const results = await stages.doctor!.find((c) => c.name === 'registry')!.run(config, AbortSignal.timeout(30_000));
      return { result: results[0]!, took: Date.now() - started };
    } finally {
      await stages.dispose();
    }
  }

  test('a running registry is ok; a down one fails with the address', async () => {
    const up = await doctor(h.REGISTRY);
    assert.equal(up.result.status, 'ok');
    assert.match(up.result.message, new RegExp(`^registry ${h.REGISTRY_RE} \\(from services\\.svc\\.image\\.repository\\) answers at http://${h.REGISTRY_RE}/v2/$`));
    const port = await freePort();
    const down = await doctor(`127.0.0.1:${port}`);
    assert.equal(down.result.status, 'fail');
    assert.match(down.result.message, new RegExp(`^registry 127\\.0\\.0\\.1:${port} .* is not reachable at http://127\\.0\\.0\\.1:${port}/v2/: ECONNREFUSED$`));
  });

  test('a registry that accepts connections but never answers: fails within the probe timeout', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    stops.push(async () => void silent.close());
    const { port } = silent.address() as net.AddressInfo;
    const { result, took } = await doctor(`127.0.0.1:${port}`, { probeMs: 700 });
    assert.equal(result.status, 'fail');
    assert.match(result.message, /no answer within 700 ms$/);
    assert.ok(took < 3000, `took ${took} ms`);
  });

  test('a registry that wants a login: warn without credentials, ok with them', async () => {
    const dir = await h.tempDir();
    const registry = await startRegistry(h.path.join(dir, 'registry'), { auth: true });
    stops.push(() => registry.stop());
    stops.push(() => h.rm(dir, { recursive: true, force: true }));
    const anonymous = await doctor(registry.host);
    assert.equal(anonymous.result.status, 'warn');
    assert.match(anonymous.result.message, /requires a login and no credentials were found .*: run docker login 127\.0\.0\.1:\d+$/);
    const configDir = h.path.join(dir, 'cfg');
    await h.mkdir(configDir);
    await h.writeFile(h.path.join(configDir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64') } } }));
    const withLogin = await doctor(registry.host, { configDir });
    assert.equal(withLogin.result.status, 'ok');
    assert.match(withLogin.result.message, /requires a login; credentials from auths in /);
  });
});
