import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { Engine } from '../../src/engine/engine.js';
import type { Stage, StageSet } from '../../src/engine/stages/stage.js';
import { configIn, put, workspace } from '../helpers/workspace.js';
import * as h from './helpers.js';

// Every stage's result reaches the next stage as a typed output of its own run (issue 9 item 1,
// issue 10 item 6): nothing is handed over through state kept on the Docker runtime.
before(() => h.ensureServices());

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('hand-offs between stages', () => {
  test('two runs of one service in flight: each push uploads the image its own image stage assembled', async () => {
    const root = await h.tempDir();
    const name = h.uniqueName();
    const dockerfile = h.path.join(root, 'Dockerfile');
    await h.writeFile(dockerfile, 'FROM scratch\nCOPY hello /hello\nENTRYPOINT ["/hello"]\n');
    const config = h.makeConfig(root, [h.makeService(name, { repository: `${h.REGISTRY}/tl-test/${name}`, dockerfile }, h.path.join(root, 'staging'))]);
    const stages = createDockerStages(config, { env: { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config') } });
    const pushed: string[] = [];
    cleanups.push(async () => {
      await stages.dispose();
      await h.deleteFromRegistry(pushed);
      await h.removeImages(name, pushed);
      await h.rm(root, { recursive: true, force: true });
    });
    // Two staging folders, so neither run's files change under the other's push.
    const imageOf = async (folder: string, text: string) => {
      const staged = await h.stage(h.path.join(root, folder), [{ path: 'hello', content: await h.helloBinary(text) }]);
      const t = h.makeContext(config, name, { ...staged });
      const result = await h.runStage(stages.image!, t);
      assert.match(result.detail!, /assembled .* in-process/);
      return t;
    };
    const first = await imageOf('staging-a', 'run a');
    const second = await imageOf('staging-b', 'run b');
    assert.notEqual(first.outputs.imageRef, second.outputs.imageRef);

    // The older run pushes after the newer one assembled: it must still deliver its own image.
    await h.runStage(stages.push!, first);
    await h.runStage(stages.push!, second);
    pushed.push(first.outputs.deployRef!, second.outputs.deployRef!);
    assert.notEqual(first.outputs.digest, second.outputs.digest);
    for (const [t, text] of [[first, 'run a'], [second, 'run b']] as const) {
      await h.dockerCli(['pull', t.outputs.deployRef!]);
      const ran = await h.dockerCli(['run', '--rm', '--network', 'none', t.outputs.deployRef!]);
      assert.equal(ran.stdout.trim(), `hello from tightloop ${text}`);
    }
  });

  test('an image stage skipped by unchanged inputs hands the last delivered image to deploy (new staged bytes do not break push)', async () => {
    const dir = await workspace({ 'input.txt': 'one', 'image-inputs.txt': 'fixed' });
    const repository = `${h.REGISTRY}/tl-test/${h.uniqueName()}`;
    const yaml = `version: 1
docker: { delivery: push }
services:
  api:
    compile: { command: "mkdir -p out && cp input.txt out/app" }
    stage: { dir: staged, files: [{ from: out/app, to: app }] }
    image: { repository: ${repository}, inputs: [image-inputs.txt] }
    deploy: { workload: deployment/api }
`;
    const deployed: (string | undefined)[] = [];
    const deploy: Stage = {
      name: 'deploy',
      async run(ctx) {
        deployed.push(ctx.outputs.deployRef);
        return {};
      },
    };
    const config = await configIn(dir, yaml);
    const docker = createDockerStages(config);
    const stages: StageSet = { image: docker.image, push: docker.push, deploy };
    const engine = Engine.fromConfig(config, stages);
    cleanups.push(async () => {
      await engine.dispose();
      await docker.dispose();
      await h.deleteFromRegistry(deployed);
      await h.rm(dir, { recursive: true, force: true });
    });

    const [first] = await engine.run(['api']);
    assert.equal(first!.status, 'ok', first!.error);
    assert.match(deployed[0]!, /@sha256:[0-9a-f]{64}$/);

    await put(dir, 'input.txt', 'two'); // new staged bytes, image inputs unchanged
    const [second] = await engine.run(['api']);
    assert.equal(second!.status, 'ok', second!.error);
    const record = (stage: string) => second!.records.find((r) => r.stage === stage)!;
    assert.equal(record('staging').status, 'ok');
    assert.equal(record('image').status, 'skipped');
    assert.match(record('image').detail!, /^inputs unchanged/);
    assert.equal(record('push').status, 'skipped');
    assert.match(record('push').detail!, /carried forward/);
    assert.equal(deployed[1], deployed[0], 'deploy receives the digest the last successful run delivered');
    assert.equal(second!.image, deployed[0]);
  });
});
