import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import * as h from './helpers.js';
import { startRegistry } from './processes.js';

// Registry GC after direct pushes: only what Tightloop recorded as its own pushes is ever deleted.
// Real docker-registry (the shared one with deletes on, and one of our own with deletes off).
before(() => h.ensureServices());

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

async function setup(registry: string, keep: number) {
  const root = await h.tempDir('tl-registry-gc-');
  const name = h.uniqueName('gc');
  const path = `tl-test/${name}`;
  const config = h.makeConfig(root, [h.makeService(name, { repository: `${registry}/${path}`, keep }, h.path.join(root, 'staging'))]);
  const stages = createDockerStages(config, { env: { ...process.env, DOCKER_CONFIG: h.path.join(root, 'docker-config') } });
  const digests: string[] = [];
  const logs: string[] = [];
  cleanups.push(async () => {
    await stages.dispose();
    for (const digest of digests) await fetch(`http://${registry}/v2/${path}/manifests/${digest}`, { method: 'DELETE', signal: AbortSignal.timeout(5000) }).catch(() => {});
    await h.rm(root, { recursive: true, force: true });
  });
  /** image + push of one distinct image; waits for the background GC it starts. */
  const push = async (content: string) => {
    const staged = await h.stage(h.path.join(root, 'staging'), [{ path: 'app', content }]);
    const t = h.makeContext(config, name, { ...staged });
    await h.runStage(stages.image!, t);
    const result = await h.runStage(stages.push!, t);
    assert.match(result.detail!, /^pushed to .* directly/);
    digests.push(t.outputs.digest!);
    await stages.settled();
    logs.push(t.logText());
    return { tag: h.path.basename(t.outputs.imageRef!).split(':').pop()!, digest: t.outputs.digest! };
  };
  const tags = async () => ((await (await fetch(`http://${registry}/v2/${path}/tags/list`)).json()) as { tags: string[] | null }).tags ?? [];
  const has = async (ref: string) => (await fetch(`http://${registry}/v2/${path}/manifests/${ref}`, { method: 'HEAD', headers: { accept: MANIFEST } })).status === 200;
  const record = async () => (JSON.parse(await h.readFile(h.path.join(root, '.tightloop', 'state', `${name}.registry.json`), 'utf8')) as { pushed: { tag: string; digest: string }[] }).pushed;
  return { registry, path, push, tags, has, record, digests, logs };
}

/** Someone else's image in the same repository, put there over the registry API (a config blob and a manifest). */
async function pushForeign(registry: string, path: string, tag: string): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {}, foreign: tag }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const started = await fetch(`http://${registry}/v2/${path}/blobs/uploads/`, { method: 'POST' });
  const upload = new URL(started.headers.get('location')!, `http://${registry}`);
  upload.searchParams.set('digest', configDigest);
  assert.equal((await fetch(upload, { method: 'PUT', body: config, headers: { 'content-type': 'application/octet-stream' } })).status, 201);
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest }, layers: [] });
  const put = await fetch(`http://${registry}/v2/${path}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': MANIFEST } });
  assert.equal(put.status, 201);
  return put.headers.get('docker-content-digest')!;
}

/** Someone else's tag on one of our manifests: the GC must not delete that manifest. */
async function retag(registry: string, path: string, digest: string, tag: string): Promise<void> {
  const manifest = await (await fetch(`http://${registry}/v2/${path}/manifests/${digest}`, { headers: { accept: MANIFEST } })).text();
  assert.equal((await fetch(`http://${registry}/v2/${path}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': MANIFEST } })).status, 201);
}

describe('registry GC of direct pushes', () => {
  test('keep=2, 5 pushes: only the newest 2 of ours remain; tags we did not push are untouched; the record lists what is kept', async () => {
    const s = await setup(h.REGISTRY, 2);
    const first = await s.push('v1');
    const foreignDigest = await pushForeign(s.registry, s.path, 'someone-else');
    s.digests.push(foreignDigest);
    const pushed = [first];
    for (const v of ['v2', 'v3', 'v4', 'v5']) pushed.push(await s.push(v));

    const kept = pushed.slice(-2);
    assert.deepEqual((await s.tags()).sort(), ['someone-else', ...kept.map((p) => p.tag)].sort());
    for (const p of pushed) assert.equal(await s.has(p.digest), kept.includes(p), `${p.tag} ${kept.includes(p) ? 'kept' : 'deleted'}`);
    assert.ok(await s.has(foreignDigest), 'the foreign manifest is still there');
    assert.deepEqual((await s.record()).map((e) => [e.tag, e.digest]), kept.map((p) => [p.tag, p.digest]));
    assert.match(s.logs.join('\n'), /\[info\] registry GC removed 1 old tag\(s\) from .*, keeping the newest 2: tl-[0-9a-f]{12}/);

    // Someone tags our oldest kept manifest: once it falls out of the newest 2 it is left alone (a delete would take their tag too).
    await retag(s.registry, s.path, kept[0]!.digest, 'pinned');
    const sixth = await s.push('v6');
    assert.ok(await s.has('pinned'));
    assert.ok(await s.has(kept[0]!.tag), 'our tag on the pinned manifest stays too');
    assert.ok(await s.has(sixth.digest));
    assert.deepEqual((await s.record()).map((e) => e.tag), [kept[0]!.tag, kept[1]!.tag, sixth.tag], 'still ours, retried next time');

    // The pinned manifest deleted by hand (with both tags): the GC finds it gone (404) and drops it from the record.
    assert.equal((await fetch(`http://${s.registry}/v2/${s.path}/manifests/${kept[0]!.digest}`, { method: 'DELETE' })).status, 202);
    const seventh = await s.push('v7');
    assert.deepEqual((await s.record()).map((e) => e.tag), [sixth.tag, seventh.tag]);
  });

  test('a registry with deletes disabled: one warning, the pushes still succeed, nothing is deleted', async () => {
    const dir = await h.tempDir('tl-nodelete-reg-');
    const registry = await startRegistry(h.path.join(dir, 'registry'), { deletes: false });
    cleanups.push(async () => {
      await registry.stop();
      await h.rm(dir, { recursive: true, force: true });
    });
    const s = await setup(registry.host, 1);
    const pushed = [];
    for (const v of ['a', 'b', 'c', 'd']) pushed.push(await s.push(v));
    const warnings = s.logs.join('\n').split('\n').filter((line) => line.startsWith('[warn]'));
    assert.deepEqual(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /^\[warn\] registry GC is off for 127\.0\.0\.1:\d+: the registry has deletes disabled/);
    assert.deepEqual((await s.tags()).sort(), pushed.map((p) => p.tag).sort());
    assert.deepEqual((await s.record()).map((e) => e.tag), pushed.map((p) => p.tag), 'all still recorded');
  });
});
