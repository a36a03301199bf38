import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import * as h from './helpers.js';

// doctor on a fresh checkout: the staging folder (or the staged files a user Dockerfile COPYs)
// do not exist until the first run; that is not a failure. No engine is contacted by this check.
describe('doctor image preflight on a fresh checkout', () => {
  const roots: string[] = [];
  after(async () => {
    for (const root of roots) await h.rm(root, { recursive: true, force: true });
  });

  async function fixture(dockerfile: string) {
    const root = await h.tempDir('tl-doctor-fresh-');
    roots.push(root);
    const name = h.uniqueName('fresh');
    const staging = h.path.join(root, 'staging');
    await h.writeFile(h.path.join(root, 'Dockerfile'), dockerfile);
    const config = h.makeConfig(root, [h.makeService(name, { repository: `tl-test/${name}`, dockerfile: h.path.join(root, 'Dockerfile') }, staging)]);
    const stages = createDockerStages(config);
    const check = stages.doctor!.find((c) => c.name === 'image preflight')!;
    const run = () => check.run(config, AbortSignal.timeout(10_000));
    return { root, staging, stages, run };
  }

  test('no staging folder yet: passes, "will be staged by the first run"', async () => {
    const f = await fixture('FROM scratch\nCOPY app /app\nENTRYPOINT ["/app"]\n');
    const results = await f.run();
    assert.deepEqual(results.map((r) => r.status), ['ok'], JSON.stringify(results));
    assert.match(results[0]!.message, /will be staged by the first run/);
    await f.stages.dispose();
  });

  test('a committed staging folder without the artifact yet: the COPY of a stage.files target passes; a COPY of nothing staged still fails', async () => {
    const f = await fixture('FROM scratch\nCOPY config.json /config.json\nCOPY app /app\nENTRYPOINT ["/app"]\n');
    await h.mkdir(f.staging, { recursive: true });
    await h.writeFile(h.path.join(f.staging, 'config.json'), '{}');
    const results = await f.run();
    assert.deepEqual(results.map((r) => r.status), ['ok'], JSON.stringify(results));
    assert.match(results[0]!.message, /^app not in .*staging yet: will be staged by the first run/);

    await h.writeFile(h.path.join(f.root, 'Dockerfile'), 'FROM scratch\nCOPY config.json /config.json\nCOPY app /app\nCOPY typo /typo\n');
    const typo = await f.run();
    assert.deepEqual(typo.map((r) => r.status), ['ok', 'fail'], JSON.stringify(typo));
    assert.match(typo[1]!.message, /COPY source "typo" is not in the staging folder/);
    await f.stages.dispose();
  });
});
