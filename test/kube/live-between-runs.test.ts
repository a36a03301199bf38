/**
 * Live update between runs (issue 13 item 4), through the real engine against the fake API server
 * (pods are real agent processes behind the exec websocket) and the real registry, reached through
 * a loopback proxy the test can make hang:
 *  - after a live sync the image of the synced content is built and pushed in the background, so a
 *    later full rollout of that content skips the build and the push;
 *  - a save during that background build stops it, and no run fails;
 *  - a pod that appears after a live sync gets the current content by itself (no save), in a run
 *    of its own, and the service is not idle until it has it.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { Engine } from '../../src/engine/engine.js';
import { createKubeStages } from '../../src/engine/kube/index.js';
import type { EngineEvent, RunSummary } from '../../src/engine/types.js';
import { agentBinary, get, serverBinary, waitUntil } from '../agent/helpers.js';
import { faultyProxy, type FaultRule, type FaultyProxy } from '../docker/faulty-proxy.js';
import { deleteFromRegistry, ensureServices, REGISTRY, removeImages, uniqueName } from '../docker/helpers.js';
import { LocalAgentContainer } from '../fake-kube/agent-pods.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { freePort } from '../helpers/net.js';
import { configIn, workspace } from '../helpers/workspace.js';
import { deployment, startCluster } from './helpers.js';

let fake: FakeKubeServer;
let proxy: FakeRegistry;
let engine: Engine;
let dir: string;
const name = uniqueName('livebg');
const refs: string[] = [];
/** What each image holds at /server, by every reference a pod may name it with. */
const imageServer = new Map<string, Buffer>();
const containers = new Map<string, { c: LocalAgentContainer; port: number }>();
const events: EngineEvent[] = [];
type FakeRegistry = FaultyProxy & { rules: FaultRule[] };

const yaml = (kubeconfig: string, registry: string, readyTimeout: string) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
docker: { delivery: push, registry: ${registry} }
services:
  api:
    watch: { paths: [src] }
    compile: { command: "mkdir -p out && cp src/server out/server" }
    stage: { dir: staged, files: [{ from: out/server, to: server }] }
    image: { repository: ${registry}/tl-test/${name} }
    deploy: { workload: deployment/api, readyTimeout: ${readyTimeout} }
    live:
      sync: [{ from: server, to: /server }]
      action: restart
`;

async function startEngine(readyTimeout: string): Promise<Engine> {
  const config = await configIn(dir, yaml(fake.kubeconfigPath, proxy.address, readyTimeout));
  const started = await Engine.start(config, {
    stages: (c) => {
      const kube = createKubeStages(c, { env: {}, homeDir: tmpdir(), watchRetry: { attempts: 3, baseDelayMs: 50 } });
      const docker = createDockerStages(c, { cluster: kube.cluster });
      return { ...kube, image: docker.image, push: docker.push, dispose: async () => void (await Promise.all([kube.dispose(), docker.dispose()])) };
    },
  });
  started.on((e) => events.push(e));
  return started;
}

const livePods = () => fake.cluster.store.list('pods', 'default').filter((p) => !p.metadata.deletionTimestamp && p.metadata.labels?.app === 'api');
const stageOf = (s: RunSummary, stage: string) => s.records.find((r) => r.stage === stage)!;
const versionOf = async (pod: string) => (await get(containers.get(pod)!.port, '/')).body.split(' ')[0];
const finished = () => events.flatMap((e) => (e.type === 'run-finished' ? [e.summary] : []));
const background = (runId: string) => events.flatMap((e) => (e.type === 'background-image' && e.runId === runId ? [e] : []));
const backgroundEnd = (runId: string) => background(runId).find((e) => e.state !== 'started');

/** Every pod without a process gets one: the agent running the server its image holds. */
async function backPods(): Promise<void> {
  for (const pod of livePods()) {
    const podName = pod.metadata.name;
    if (containers.has(podName)) continue;
    const content = imageServer.get(pod.spec.containers[0].image);
    assert.ok(content, `${podName} runs an image the test knows (${pod.spec.containers[0].image})`);
    const port = await freePort();
    const c = await LocalAgentContainer.start(await agentBinary(), { files: [{ path: '/server', content, mode: 0o755 }], command: ['/server', String(port)], targets: ['/server'] });
    containers.set(podName, { c, port });
    fake.exec.backends.set(`default/${podName}`, c.exec);
    await waitUntil(`${podName} serves`, 10_000, async () => (await get(port, '/')).status === 200);
  }
}

async function save(version: string): Promise<void> {
  await writeFile(path.join(dir, 'src', 'server'), await serverBinary(version), { mode: 0o755 });
}

/** An editor save of src/server; the run it started, which must succeed. */
async function saved(): Promise<RunSummary> {
  const before = finished().length;
  engine.notifySaved([path.join(dir, 'src', 'server')]);
  await waitUntil('the save ran', 60_000, () => finished().slice(before).some((s) => s.trigger.reason === 'save'));
  const summary = finished().slice(before).find((s) => s.trigger.reason === 'save')!;
  assert.equal(summary.status, 'ok', `${summary.error ?? ''}\n${(summary.evidence ?? []).join('\n')}`);
  return summary;
}

/** The tag's manifest is in the real registry (asked directly, not through the proxy). */
async function inRegistry(ref: string): Promise<boolean> {
  const [repo, tag] = [ref.slice(ref.indexOf('/') + 1, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
  const answer = await fetch(`http://${REGISTRY}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
  return answer.status === 200;
}

before(async () => {
  await ensureServices();
  await agentBinary();
  const [host, port] = REGISTRY.split(':');
  const rules: FaultRule[] = [];
  proxy = Object.assign(await faultyProxy({ host: host!, port: Number(port) }, rules), { rules });
  fake = await startCluster([deployment({ replicas: 2 })]);
  dir = await workspace({ 'src/.keep': '' });
  await save('v1');
  engine = await startEngine('20s');
});
after(async () => {
  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- set in before(), absent when it failed early */
  await engine?.dispose();
  for (const { c } of containers.values()) await c.stop();
  await fake?.close();
  await proxy?.close();
  await deleteFromRegistry(refs.map((r) => r.replace(proxy.address, REGISTRY)));
  await removeImages(name);
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */
});

describe('live update between runs', () => {
  let v2Image = '';

  test('after a live sync the image of the synced content is pushed in the background, never deployed', async () => {
    const [first] = await engine.run(['api']);
    assert.equal(first!.status, 'ok', first!.error);
    refs.push(first!.image!);
    imageServer.set(first!.image!, await serverBinary('v1'));
    await backPods();
    assert.equal(background(first!.runId).length, 0, 'a full delivery builds no background image');

    const deployed = fake.cluster.get('deployments', 'default', 'api')!;
    await save('v2');
    const live = await saved();
    assert.equal(stageOf(live, 'live').status, 'ok', stageOf(live, 'live').detail);
    assert.equal(live.image, first!.image, 'the run reports the image the pods run, not the background one');
    await waitUntil('the background image is done', 60_000, () => backgroundEnd(live.runId) !== undefined);
    const end = backgroundEnd(live.runId)!;
    assert.equal(end.state, 'done', end.detail);
    const ref = end.ref!;
    const tag = ref.slice(ref.lastIndexOf(':') + 1);
    assert.match(tag, /^tl-/);
    assert.ok(!stageOf(first!, 'image').detail!.includes(tag), 'a tag of its own, not the deployed image');
    assert.match(end.detail, /^image for this content pushed \(.*@sha256:[0-9a-f]{64}\) in the background \(tag tl-/);
    assert.ok(await inRegistry(ref), `${ref} is in the registry`);
    assert.ok(events.some((e) => e.type === 'log' && e.line.runId === live.runId && e.line.text.startsWith('background image: image for this content pushed')), 'said in the run log');
    v2Image = ref;
    const now = fake.cluster.get('deployments', 'default', 'api')!;
    assert.equal(now.metadata.generation, deployed.metadata.generation, 'the workload was not written');
    for (const pod of livePods()) assert.equal(await versionOf(pod.metadata.name), 'v2');
    assert.ok(finished().every((s) => s.status === 'ok'), 'no run failed');
  });

  test('a pod that appears after a live sync gets the current content by itself, before the service is idle', async () => {
    fake.cluster.defaultScenario = { kind: 'probe-fail' }; // the replacement turns ready when the test says so
    try {
      const before = finished().length;
      const victim = livePods()[0]!.metadata.name;
      fake.cluster.store.remove('pods', 'default', victim); // evicted: the ReplicaSet replaces it
      await waitUntil('the replacement pod exists', 10_000, () => livePods().length === 2 && livePods().some((p) => !containers.has(p.metadata.name)));
      const fresh = livePods().find((p) => !containers.has(p.metadata.name))!.metadata.name;
      await backPods(); // it runs its image's content: v1
      assert.equal(await versionOf(fresh), 'v1');
      await waitUntil(`a run waits for ${fresh}`, 30_000, () => events.some((e) => e.type === 'log' && e.line.stage === 'live' && e.line.text.startsWith(`waiting for ${fresh}`)));
      const status = engine.status().find((s) => s.name === 'api')!;
      assert.ok(status.running, 'the service is busy, not up to date, while the new pod lacks the content');
      const run = finished().slice(before);
      assert.equal(run.length, 0, 'no run finished yet');

      const pod = fake.cluster.store.list('pods', 'default').find((p) => p.metadata.name === fresh)!;
      pod.status.conditions = [...(pod.status.conditions ?? []).filter((c: { type: string }) => c.type !== 'Ready'), { type: 'Ready', status: 'True' }];
      fake.cluster.store.update('pods', pod);
      await waitUntil('the pod run finished', 30_000, () => finished().length > before);
      const summary = finished()[before]!;
      assert.equal(summary.status, 'ok', summary.error);
      assert.equal(summary.trigger.reason, 'pod');
      assert.equal(stageOf(summary, 'trigger').detail, `pod ${fresh} appeared: it runs its image's content, not the live-synced files`);
      assert.equal(stageOf(summary, 'live').status, 'ok', stageOf(summary, 'live').detail);
      assert.match(stageOf(summary, 'live').detail!, new RegExp(`1 file .* synced into .*${fresh}`));
      assert.equal(await versionOf(fresh), 'v2', 'the new pod serves the current content');
      for (const p of livePods()) assert.equal(await versionOf(p.metadata.name), 'v2');
      const history = await engine.recentRuns('api', 1);
      assert.equal(history[0]!.trigger.reason, 'pod', 'the run is in the history like any other');
      await engine.whenIdle();
      await waitUntil('its background image is done', 60_000, () => backgroundEnd(summary.runId) !== undefined);
      assert.equal(backgroundEnd(summary.runId)!.ref, v2Image, 'the same content, the same tag');
    } finally {
      fake.cluster.defaultScenario = { kind: 'ready' };
    }
  });

  test('a save during the background build stops it; no run fails', async () => {
    const hang: FaultRule = { match: (_method, p) => p.includes('/blobs/uploads/'), fault: 'hang', times: Infinity };
    proxy.rules.push(hang);
    await save('v3');
    const v3 = await saved();
    assert.equal(stageOf(v3, 'live').status, 'ok');
    await waitUntil('the background push of v3 hangs in the registry', 60_000, () => proxy.failed(hang) > 0);
    proxy.rules.splice(proxy.rules.indexOf(hang), 1);

    await save('v4');
    const v4 = await saved();
    assert.equal(stageOf(v4, 'live').status, 'ok', stageOf(v4, 'live').detail);
    await waitUntil('the v3 background build ended', 30_000, () => backgroundEnd(v3.runId) !== undefined);
    assert.equal(backgroundEnd(v3.runId)!.state, 'cancelled');
    assert.match(backgroundEnd(v3.runId)!.detail, new RegExp(`^cancelled: superseded by run ${v4.runId}`));
    await waitUntil('the v4 background build ended', 60_000, () => backgroundEnd(v4.runId) !== undefined);
    assert.equal(backgroundEnd(v4.runId)!.state, 'done', backgroundEnd(v4.runId)!.detail);
    assert.ok(finished().every((s) => s.status === 'ok'), `no run failed: ${finished().map((s) => `${s.trigger.reason} ${s.status} ${s.error ?? ''}`).join('; ')}`);
    for (const p of livePods()) assert.equal(await versionOf(p.metadata.name), 'v4');
  });

  test('a full rollout of the same content finds the background tag: no build, no push', async () => {
    const v4Image = events.flatMap((e) => (e.type === 'background-image' && e.state === 'done' ? [e.ref!] : [])).at(-1)!;
    await engine.dispose();
    // A deploy setting changed: the same staged content takes the full path.
    engine = await startEngine('25s');
    const [full] = await engine.run(['api']);
    assert.equal(full!.status, 'ok', full!.error);
    assert.match(stageOf(full!, 'live').detail!, /^full image \+ rollout: the image, deploy, live or cluster settings changed/);
    assert.equal(stageOf(full!, 'image').status, 'skipped', stageOf(full!, 'image').detail);
    assert.match(stageOf(full!, 'image').detail!, /already/);
    assert.equal(stageOf(full!, 'push').status, 'skipped', stageOf(full!, 'push').detail);
    assert.equal(stageOf(full!, 'deploy').status, 'ok');
    assert.ok(full!.image!.startsWith(`${proxy.address}/tl-test/${name}@sha256:`));
    refs.push(full!.image!);
    imageServer.set(full!.image!, await serverBinary('v4'));
    assert.ok(stageOf(full!, 'image').detail!.includes(v4Image.slice(v4Image.lastIndexOf(':') + 1)), `the background image's tag: ${stageOf(full!, 'image').detail}`);
    await backPods();
    for (const p of livePods()) assert.equal(await versionOf(p.metadata.name), 'v4');
  });

  test('a pod that appears and cannot be synced gets a full rollout that says why, from the background image', async () => {
    await save('v5');
    const v5 = await saved();
    assert.equal(stageOf(v5, 'live').status, 'ok', stageOf(v5, 'live').detail);
    await waitUntil('the v5 background image is done', 60_000, () => backgroundEnd(v5.runId) !== undefined);
    assert.equal(backgroundEnd(v5.runId)!.state, 'done', backgroundEnd(v5.runId)!.detail);
    const v5Tag = backgroundEnd(v5.runId)!.ref!;

    fake.exec.forbidden = true;
    try {
      const before = finished().length;
      const victim = livePods()[0]!.metadata.name;
      fake.cluster.store.remove('pods', 'default', victim);
      await waitUntil('the pod run finished', 60_000, () => finished().slice(before).some((s) => s.trigger.reason === 'pod'));
      const summary = finished().slice(before).find((s) => s.trigger.reason === 'pod')!;
      assert.equal(summary.status, 'ok', summary.error);
      assert.match(stageOf(summary, 'live').detail!, /^full image \+ rollout: the API server forbids exec into pod \S+ \(api\) \(HTTP 403 Forbidden\); live update needs the pods\/exec permission/);
      assert.equal(stageOf(summary, 'image').status, 'skipped', 'the background image is reused');
      assert.match(stageOf(summary, 'image').detail!, new RegExp(v5Tag.slice(v5Tag.lastIndexOf(':') + 1)));
      assert.equal(stageOf(summary, 'deploy').status, 'ok');
      assert.equal(stageOf(summary, 'ready').status, 'ok');
      refs.push(summary.image!);
      imageServer.set(summary.image!, await serverBinary('v5'));
    } finally {
      fake.exec.forbidden = false;
    }
    await engine.whenIdle();
    await backPods();
    for (const p of livePods()) assert.equal(await versionOf(p.metadata.name), 'v5', 'every pod runs the current content from its image');
  });

  test('a background build that fails says why and fails no run; the next full delivery builds the image itself', async () => {
    const refuse: FaultRule = { match: (_method, p) => p.includes('/blobs/uploads/'), fault: { status: 403 }, times: Infinity };
    proxy.rules.push(refuse);
    let v6: RunSummary;
    try {
      await save('v6');
      v6 = await saved();
      assert.equal(stageOf(v6, 'live').status, 'ok', stageOf(v6, 'live').detail);
      await waitUntil('the v6 background build ended', 60_000, () => backgroundEnd(v6.runId) !== undefined);
    } finally {
      proxy.rules.splice(proxy.rules.indexOf(refuse), 1);
    }
    const end = backgroundEnd(v6.runId)!;
    assert.equal(end.state, 'failed');
    assert.match(end.detail, /^push failed: .*(refused|403)/);
    assert.ok(events.some((e) => e.type === 'log' && e.line.runId === v6.runId && e.line.stream === 'warn' && e.line.text === `background image: ${end.detail}`), 'logged with its cause');
    assert.ok(finished().every((s) => s.status === 'ok'), 'no run failed');
    const history = await engine.recentRuns('api');
    assert.ok(history.every((s) => s.status === 'ok'), 'and none in the history');

    const [full] = await engine.run(['api'], { force: true });
    assert.equal(full!.status, 'ok', full!.error);
    assert.equal(stageOf(full!, 'image').status, 'ok', stageOf(full!, 'image').detail);
    assert.equal(stageOf(full!, 'push').status, 'ok', stageOf(full!, 'push').detail);
    refs.push(full!.image!);
    imageServer.set(full!.image!, await serverBinary('v6'));
    await backPods();
    for (const p of livePods()) assert.equal(await versionOf(p.metadata.name), 'v6');
  });
});
