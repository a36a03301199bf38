import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { agentBinary, get, serverBinary, waitUntil } from '../agent/helpers.js';
import { freePort } from '../helpers/net.js';
import * as h from './helpers.js';

// Live mode's image (issue 13 item 1) on both paths: the agent as one extra layer at
// /.tightloop/agent and the entrypoint wrapped around the image's own, CMD kept, a tag of its own.
before(async () => {
  await h.ensureServices();
  await agentBinary();
});

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const LIVE = { sync: [{ from: 'server', to: '/app/server' }], action: 'restart' as const, signal: 1, fallBackOn: [], maxDeltaBytes: 64e6, graceMs: 2000, listenTimeoutMs: 10_000 };

for (const path of ['direct', 'engine'] as const) {
  describe(`live-mode image, ${path} path`, () => {
    test('the agent is PID 1 around the Dockerfile entrypoint, CMD is kept, and the container serves', async () => {
      const root = await h.tempDir();
      const name = h.uniqueName();
      const port = await freePort();
      const dockerfile = h.path.join(root, 'Dockerfile');
      await h.writeFile(dockerfile, `FROM scratch\nCOPY server /app/server\nENTRYPOINT ["/app/server"]\nCMD ["${port}"]\n`);
      const plain = h.makeService(`${name}`, { repository: `${h.REGISTRY}/tl-test/${name}`, dockerfile }, h.path.join(root, 'staging'));
      const config = h.makeConfig(root, [{ ...plain, live: LIVE }]);
      const env = { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config'), ...(path === 'engine' && { TIGHTLOOP_ENGINE_BUILD: '1' }) };
      const stages = createDockerStages(config, { env });
      const refs: string[] = [];
      cleanups.push(async () => {
        await stages.dispose();
        await h.deleteFromRegistry(refs.filter((r) => r.includes('@')));
        await h.removeImages(name, refs);
        await h.rm(root, { recursive: true, force: true });
      });
      const staged = await h.stage(h.path.join(root, 'staging'), [{ path: 'server', content: await serverBinary('live1'), mode: 0o755 }]);
      const t = h.makeContext(config, name, { ...staged });
      const built = await h.runStage(stages.image!, t);
      await h.runStage(stages.push!, t);
      refs.push(t.outputs.imageRef!, t.outputs.deployRef!);
      assert.match(built.detail!, path === 'direct' ? /assembled .* in-process/ : /built /);

      if (path === 'direct') await h.dockerCli(['pull', t.outputs.deployRef!]);
      const ref = path === 'direct' ? t.outputs.deployRef! : t.outputs.imageRef!;
      const config0 = (JSON.parse((await h.dockerCli(['image', 'inspect', ref])).stdout)[0] as { Config: { Entrypoint: string[]; Cmd: string[] } }).Config;
      assert.deepEqual(config0.Entrypoint, ['/.tightloop/agent', 'run', '--target', '/app/server', '--grace', '2000', '--', '/app/server']);
      assert.deepEqual(config0.Cmd, [String(port)]);

      const id = (await h.dockerCli(['run', '-d', '--rm', '--network', 'host', ref])).stdout.trim();
      cleanups.push(async () => void (await h.dockerCli(['rm', '-f', id], { reject: false })));
      await waitUntil('the live-mode image serves', 10_000, async () => (await get(port, '/')).body.startsWith('live1'));
      const top = (await h.dockerCli(['top', id, '-o', 'pid,args'])).stdout;
      assert.match(top.split('\n')[1] ?? '', /\/\.tightloop\/agent run/, `PID 1 is the agent:\n${top}`);

      // The same files without live mode: another tag (a plain image never passes for a live one).
      const plainConfig = h.makeConfig(root, [plain]);
      const plainStages = createDockerStages(plainConfig, { env });
      cleanups.push(() => plainStages.dispose());
      const p = h.makeContext(plainConfig, name, { ...staged });
      await h.runStage(plainStages.image!, p);
      refs.push(p.outputs.imageRef!);
      assert.notEqual(p.outputs.imageRef, t.outputs.imageRef);
    });
  });
}
