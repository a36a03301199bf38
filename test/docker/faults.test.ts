import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { StageError } from '../../src/engine/stages/stage.js';
import * as h from './helpers.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, startRegistry, startThrowawayDockerd, freePort } from './processes.js';

before(() => h.ensureServices());

/** Rejects with a one-line StageError matching `pattern`, within `withinMs`. */
async function failsWithin(withinMs: number, promise: Promise<unknown>, pattern: RegExp): Promise<StageError> {
  const started = Date.now();
  let caught: unknown;
  await promise.catch((error: unknown) => (caught = error));
  const took = Date.now() - started;
  assert.ok(caught instanceof StageError, `expected a StageError, got ${caught instanceof Error ? caught.stack : String(caught)}`);
  h.assertOneLine(caught.message);
  assert.match(caught.message, pattern);
  assert.ok(took < withinMs, `took ${took} ms (limit ${withinMs} ms): ${caught.message}`);
  return caught;
}

/** A service with one staged static binary; returns a runner for image (+ push). */
async function service(docker: Parameters<typeof h.makeConfig>[2] = {}, options: Parameters<typeof createDockerStages>[1] = {}, repository?: string) {
  const root = await h.tempDir();
  const name = h.uniqueName();
  const config = h.makeConfig(root, [h.makeService(name, { repository: repository ?? `tl-test/${name}` }, h.path.join(root, 'staging'))], docker);
  // Faults of the engine build and the engine push: force that path (direct-push.test.ts covers the other).
  const stages = createDockerStages(config, { env: { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config'), TIGHTLOOP_ENGINE_BUILD: '1' }, ...options });
  const staged = async (text: string, size?: number) => {
    const binary = await h.helloBinary(text);
    return h.stage(h.path.join(root, 'staging'), [{ path: 'app', content: size ? h.padTo(binary, size, text) : binary }]);
  };
  return {
    root,
    name,
    config,
    stages,
    async image(text: string, options: Parameters<typeof h.makeContext>[3] & { size?: number } = {}) {
      const t = h.makeContext(config, name, { ...(await staged(text, options.size)) }, options);
      await h.runStage(stages.image!, t);
      return t;
    },
    async cleanup() {
      await stages.dispose();
      await h.removeImages(name);
      await h.rm(root, { recursive: true, force: true });
    },
  };
}

describe('Docker engine faults', () => {
  test('daemon not running (config host): one line, immediately; doctor says so', async () => {
    const s = await service({ host: 'unix:///tmp/tightloop-no-such-dir/docker.sock' });
    try {
      await failsWithin(3000, s.image('down'), /^Docker engine is not running: there is no socket at \/tmp\/tightloop-no-such-dir\/docker\.sock \(docker\.host in tightloop\.yaml\)$/);
      const [result] = await s.stages.doctor!.find((c) => c.name === 'docker')!.run(s.config, AbortSignal.timeout(10_000));
      assert.equal(result!.status, 'fail');
      assert.match(result!.message, /^Docker engine is not running/);
    } finally {
      await s.cleanup();
    }
  });

  test('DOCKER_HOST pointing at a socket nobody listens on: named with its source', async () => {
    const root = await h.tempDir();
    const socket = h.path.join(root, 'dead.sock');
    // A socket file whose server is gone: connect() is refused.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    const s = await service({}, { env: { ...process.env, DOCKER_HOST: `unix://${socket}` } });
    try {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await h.writeFile(socket, '').catch(() => {}); // leave a plain file where the socket was
      await failsWithin(3000, s.image('dead'), new RegExp(`^Docker engine is not running: .*${socket.replace(/[.]/g, '\\.')}.*\\(DOCKER_HOST\\)$`));
    } finally {
      await s.cleanup();
      await h.rm(root, { recursive: true, force: true });
    }
  });

  test('an engine that accepts but never answers: bounded by the API timeout', async () => {
    const silent = net.createServer(() => {}); // accepts, reads nothing, answers nothing
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const s = await service({ host: `tcp://127.0.0.1:${port}` }, { timeouts: { apiMs: 800, pingMs: 800 } });
    try {
      await failsWithin(4000, s.image('silent'), new RegExp(`^Docker engine at tcp://127\\.0\\.0\\.1:${port} did not answer within 800 ms`));
      const [result] = await s.stages.doctor!.find((c) => c.name === 'docker')!.run(s.config, AbortSignal.timeout(10_000));
      assert.equal(result!.status, 'fail');
      assert.match(result!.message, /did not answer within 800 ms \(ping\)/);
    } finally {
      silent.close();
      await s.cleanup();
    }
  });

  test('cancelled mid-build through ctx.signal: stops at once, next run builds', async () => {
    const s = await service();
    try {
      const controller = new AbortController();
      const started = Date.now();
      await assert.rejects(s.image('cancel', { size: 32 * 1024 * 1024, signal: controller.signal, onLog: (text) => /^Step 1\//.test(text) && controller.abort(new Error('user cancelled')) }));
      assert.ok(Date.now() - started < 10_000);
      const t = await s.image('cancel', { size: 32 * 1024 * 1024 });
      assert.equal(await h.imageExists(t.outputs.imageRef!), true);
    } finally {
      await s.cleanup();
    }
  });

  describe('a throwaway engine stopped mid-build', () => {
    let engine: Awaited<ReturnType<typeof startThrowawayDockerd>>;
    before(async () => {
      engine = await startThrowawayDockerd(await h.tempDir('tl-dockerd-'));
    });
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when before() failed
    after(() => engine?.stop());

    test('killed mid-build: one line, nothing tagged; next run after a restart builds without cleanup', async () => {
      const s = await service({ host: `unix://${engine.socket}` });
      try {
        // Freeze it the moment the build starts (so it cannot finish), then kill it.
        const killOnStart = (text: string) => {
          if (/^Step 1\//.test(text)) {
            engine.signal('SIGSTOP');
            engine.signal('SIGKILL');
          }
        };
        await failsWithin(15_000, s.image('killed', { size: 48 * 1024 * 1024, onLog: killOnStart }), /^Docker engine at unix:\/\/.* closed the connection mid-build \(it stopped or restarted\); nothing was tagged$/);
        await failsWithin(3000, s.image('killed', { size: 48 * 1024 * 1024 }), /^Docker engine is not running: nothing accepts connections at unix:\/\//);

        await engine.restart();
        const t = await s.image('killed', { size: 48 * 1024 * 1024 });
        assert.ok(await engine.docker.getImage(t.outputs.imageRef!).inspect());
      } finally {
        await s.stages.dispose();
        await h.rm(s.root, { recursive: true, force: true });
      }
    });

    test('frozen mid-build: the liveness ping gives up within seconds; thawed, the next run builds', async () => {
      const s = await service({ host: `unix://${engine.socket}` }, { timeouts: { silenceMs: 500, pingMs: 1000 } });
      try {
        const freezeOnStart = (text: string) => /^Step 1\//.test(text) && engine.signal('SIGSTOP');
        await failsWithin(10_000, s.image('frozen', { size: 48 * 1024 * 1024, onLog: freezeOnStart }), /^Docker engine at unix:\/\/.* stopped answering mid-build \(no output for .* and no reply to a ping\); nothing was tagged$/);
        engine.signal('SIGCONT');
        const t = await s.image('frozen', { size: 48 * 1024 * 1024 });
        assert.ok(await engine.docker.getImage(t.outputs.imageRef!).inspect());
      } finally {
        engine.signal('SIGCONT');
        await s.stages.dispose();
        await h.rm(s.root, { recursive: true, force: true });
      }
    });
  });
});

describe('registry faults', () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  test('registry down: one line naming it; once it is up, the next run pushes', async () => {
    const port = await freePort();
    const s = await service({}, {}, `127.0.0.1:${port}/tl-test/down`);
    stops.push(() => s.cleanup());
    const t = await s.image('regdown');
    await failsWithin(15_000, h.runStage(s.stages.push!, t), new RegExp(`^registry 127\\.0\\.0\\.1:${port} is not reachable from the Docker engine: .*connection refused`));

    const registry = await startRegistry(h.path.join(s.root, 'registry'), { port });
    stops.push(() => registry.stop());
    await h.runStage(s.stages.push!, t);
    assert.match(t.outputs.deployRef!, new RegExp(`^127\\.0\\.0\\.1:${port}/tl-test/down@sha256:`));
  });

  test('registry refusing auth: one line with where the credentials came from; a credential helper fixes it', async () => {
    const root = await h.tempDir();
    const registry = await startRegistry(h.path.join(root, 'registry'), { auth: true });
    stops.push(() => registry.stop());
    stops.push(() => h.rm(root, { recursive: true, force: true }));
    const s = await service({}, {}, `${registry.host}/tl-test/auth`);
    stops.push(() => s.cleanup());
    const configDir = h.path.join(s.root, 'docker-config');
    await h.mkdir(configDir, { recursive: true });
    const t = await s.image('auth');

    // No credentials at all.
    await failsWithin(15_000, h.runStage(s.stages.push!, t), new RegExp(`^registry ${registry.host} refused the push: .*(unauthorized|authentication required|no basic auth credentials).*\\(credentials: none`));

    // Wrong password inline in auths.
    const wrong = Buffer.from(`${REGISTRY_USER}:nope`).toString('base64');
    await h.writeFile(h.path.join(configDir, 'config.json'), JSON.stringify({ auths: { [`http://${registry.host}`]: { auth: wrong } } }));
    const refused = await failsWithin(15_000, h.runStage(s.stages.push!, t), /refused the push: .*\(credentials: auths in .*config\.json\)$/);
    assert.match(refused.options.hint!, new RegExp(`docker login ${registry.host}`));

    // A docker-credential-* helper (a real executable on PATH) with the right password.
    const bin = h.path.join(s.root, 'bin');
    await h.mkdir(bin, { recursive: true });
    await h.writeFile(
      h.path.join(bin, 'docker-credential-tltest'),
      `#!/bin/sh\nread server\n[ "$1" = get ] || exit 1\nprintf '{"ServerURL":"%s","Username":"${REGISTRY_USER}","Secret":"${REGISTRY_PASSWORD}"}' "$server"\n`,
      { mode: 0o755 },
    );
    await h.writeFile(h.path.join(configDir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: wrong } }, credHelpers: { [registry.host]: 'tltest' } }));
    const fixed = createDockerStages(s.config, { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: configDir, TIGHTLOOP_ENGINE_BUILD: '1' } });
    try {
      await h.runStage(fixed.push!, t);
      assert.match(t.outputs.digest!, /^sha256:/);
      assert.match(t.logText(), /credentials: credHelpers "tltest"/);
    } finally {
      await fixed.dispose();
    }
  });
});
