import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import * as h from './helpers.js';

// Registry GC after engine pushes: the engine path keeps image.keep tl- tags per service in the
// registry too, like the direct path. Real engine and loopback registry.
before(() => h.ensureServices());

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

async function setup(keep: number) {
  const root = await h.tempDir('tl-registry-gc-engine-');
  const name = h.uniqueName('gce');
  const path = `tl-test/${name}`;
  const config = h.makeConfig(root, [h.makeService(name, { repository: `${h.REGISTRY}/${path}`, keep }, h.path.join(root, 'staging'))]);
  const env = { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config') };
  // The same service through both paths: the engine builder (forced) and the direct push.
  const engineStages = createDockerStages(config, { env: { ...env, TIGHTLOOP_ENGINE_BUILD: '1' } });
  const directStages = createDockerStages(config, { env });
  const digests: string[] = [];
  const logs: string[] = [];
  cleanups.push(async () => {
    await engineStages.dispose();
    await directStages.dispose();
    await h.removeImages(name);
    for (const digest of digests) await fetch(`http://${h.REGISTRY}/v2/${path}/manifests/${digest}`, { method: 'DELETE', signal: AbortSignal.timeout(5000) }).catch(() => {});
    await h.rm(root, { recursive: true, force: true });
  });
  const push = async (content: string, path: 'engine' | 'direct' = 'engine') => {
    const stages = path === 'engine' ? engineStages : directStages;
    const staged = await h.stage(h.path.join(root, 'staging'), [{ path: 'app', content }]);
    const t = h.makeContext(config, name, { ...staged });
    await h.runStage(stages.image!, t);
    const result = await h.runStage(stages.push!, t);
    digests.push(t.outputs.digest!);
    await stages.settled();
    logs.push(t.logText());
    return { tag: h.path.basename(t.outputs.imageRef!).split(':').pop()!, digest: t.outputs.digest!, detail: result.detail! };
  };
  const tags = async () => ((await (await fetch(`http://${h.REGISTRY}/v2/${path}/tags/list`)).json()) as { tags: string[] | null }).tags ?? [];
  const has = async (ref: string) => (await fetch(`http://${h.REGISTRY}/v2/${path}/manifests/${ref}`, { method: 'HEAD', headers: { accept: MANIFEST } })).status === 200;
  return { push, tags, has, logs };
}

describe('registry GC of engine pushes', () => {
  test('keep=2, 4 engine pushes: only the newest 2 tags remain in the registry', async () => {
    const s = await setup(2);
    const pushed = [];
    for (const v of ['e1', 'e2', 'e3', 'e4']) pushed.push(await s.push(v));
    assert.match(pushed[0]!.detail, /^pushed to /);
    assert.doesNotMatch(pushed[0]!.detail, /directly/, 'the engine path');
    const kept = pushed.slice(-2);
    assert.deepEqual((await s.tags()).sort(), kept.map((p) => p.tag).sort(), s.logs.join('\n'));
    for (const p of pushed) assert.equal(await s.has(p.digest), kept.includes(p), `${p.tag} ${kept.includes(p) ? 'kept' : 'deleted'}`);
    assert.match(s.logs.join('\n'), /registry GC removed 1 old tag\(s\) from .*, keeping the newest 2/);
  });

  test('engine and direct pushes of one service share one record: keep counts both', async () => {
    const s = await setup(2);
    const pushed = [await s.push('m1', 'engine'), await s.push('m2', 'direct'), await s.push('m3', 'engine'), await s.push('m4', 'direct')];
    assert.match(pushed[1]!.detail, /directly/);
    assert.deepEqual((await s.tags()).sort(), pushed.slice(-2).map((p) => p.tag).sort(), s.logs.join('\n'));
  });
});
