/**
 * Live update through the real engine (issue 13): compile → stage → live against the fake API
 * server, whose pods are real agent processes (test/fake-kube/agent-pods.ts) reached over the exec
 * websocket, with the image built in live mode and pushed to the real registry. A save covered by
 * live.sync changes the running process without a rollout; one that is not falls back to the full
 * path and says why.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { Engine } from '../../src/engine/engine.js';
import { createKubeStages } from '../../src/engine/kube/index.js';
import type { RunSummary } from '../../src/engine/types.js';
import { agentBinary, get, serverBinary, waitUntil } from '../agent/helpers.js';
import { deleteFromRegistry, dockerCli, ensureServices, REGISTRY, removeImages, uniqueName } from '../docker/helpers.js';
import { LocalAgentContainer } from '../fake-kube/agent-pods.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { freePort } from '../helpers/net.js';
import { configIn, workspace } from '../helpers/workspace.js';
import { deployment, startCluster } from './helpers.js';

let fake: FakeKubeServer;
let engine: Engine;
let dir: string;
const name = uniqueName('live');
const delivered: string[] = [];
/** What each delivered image holds at /server: a pod started from it runs that. */
const imageServer = new Map<string, Buffer>();
const containers = new Map<string, { c: LocalAgentContainer; port: number }>();

const yaml = (kubeconfig: string) => `version: 1
kubernetes: { kubeconfig: ${kubeconfig} }
docker: { delivery: push, registry: ${REGISTRY} }
services:
  api:
    watch: { paths: [src] }
    compile: { command: "mkdir -p out && cp src/server out/server && cp src/settings.txt out/settings.txt" }
    stage: { dir: staged, files: [{ from: out/server, to: server }, { from: out/settings.txt, to: settings.txt }] }
    image: { repository: ${REGISTRY}/tl-test/${name} }
    deploy: { workload: deployment/api, readyTimeout: 20s }
    live:
      sync: [{ from: server, to: /server }] # the generated Dockerfile copies staged files to /
      action: restart
      fallBackOn: [src/rebuild]
`;

async function save(file: string, content: Buffer | string): Promise<void> {
  await writeFile(path.join(dir, 'src', file), content, { mode: 0o755 });
}

async function run(): Promise<RunSummary> {
  const [summary] = await engine.run(['api']);
  assert.equal(summary!.status, 'ok', `${summary!.error ?? ''}\n${(summary!.evidence ?? []).join('\n')}`);
  return summary!;
}

/** An editor save of `files` (their trigger is what fallBackOn looks at); the run it started. */
async function saved(files: string[]): Promise<RunSummary> {
  let summary: RunSummary | undefined;
  const off = engine.on((e) => {
    if (e.type === 'run-finished') summary = e.summary;
  });
  try {
    engine.notifySaved(files.map((f) => path.join(dir, 'src', f)));
    await waitUntil('the save started a run', 10_000, () => summary !== undefined || engine.status().some((s) => s.running));
    await engine.whenIdle();
  } finally {
    off();
  }
  assert.ok(summary, 'the save ran');
  assert.equal(summary.status, 'ok', `${summary.error ?? ''}\n${(summary.evidence ?? []).join('\n')}`);
  return summary;
}

const stageOf = (s: RunSummary, stage: string) => s.records.find((r) => r.stage === stage);
const livePods = () => fake.cluster.store.list('pods', 'default').filter((p) => !p.metadata.deletionTimestamp && p.metadata.labels?.app === 'api');
/** The ReplicaSets the deployment controller scaled up so far (one per rollout). */
const replicaSets = () =>
  fake.cluster.store
    .list('events', 'default')
    .filter((e) => e.reason === 'ScalingReplicaSet' && /^Scaled up/.test(String(e.message)))
    .map((e) => String(e.message));

/** Every pod without a process gets one: the agent running the server its image holds. */
async function backPods(): Promise<void> {
  for (const pod of livePods()) {
    const podName = pod.metadata.name;
    if (containers.has(podName)) continue;
    const content = imageServer.get(pod.spec.containers[0].image) ?? (await serverBinary('v0'));
    const port = await freePort();
    const c = await LocalAgentContainer.start(await agentBinary(), { files: [{ path: '/server', content, mode: 0o755 }], command: ['/server', String(port)], targets: ['/server'] });
    containers.set(podName, { c, port });
    fake.exec.backends.set(`default/${podName}`, c.exec);
    await waitUntil(`${podName} serves`, 10_000, async () => (await get(port, '/')).status === 200);
  }
}

const versionOf = async (pod: string) => (await get(containers.get(pod)!.port, '/')).body.split(' ')[0];

/** A full delivery: remember what its image holds, and give its pods their processes. */
async function delivery(summary: RunSummary): Promise<void> {
  delivered.push(summary.image!);
  imageServer.set(summary.image!, await serverBinary(await currentVersion()));
  await backPods();
}
let version = 'v1';
const currentVersion = async () => version;

before(async () => {
  await ensureServices();
  await agentBinary();
  fake = await startCluster([deployment({ replicas: 2 })]);
  dir = await workspace({ 'src/settings.txt': 'one\n' });
  await save('server', await serverBinary('v1'));
  const config = await configIn(dir, yaml(fake.kubeconfigPath));
  engine = await Engine.start(config, {
    stages: (c) => {
      const kube = createKubeStages(c, { env: {}, homeDir: tmpdir(), watchRetry: { attempts: 3, baseDelayMs: 50 } });
      const docker = createDockerStages(c, { cluster: kube.cluster });
      return { ...kube, image: docker.image, push: docker.push, dispose: async () => void (await Promise.all([kube.dispose(), docker.dispose()])) };
    },
  });
});
after(async () => {
  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- set by the first test, absent when it failed early */
  await engine?.dispose();
  for (const { c } of containers.values()) await c.stop();
  await fake?.close();
  await deleteFromRegistry(delivered);
  await removeImages(name, delivered);
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */
});

describe('live update through the engine', () => {
  test('first delivery: no pod runs a live-mode image yet, so the full path builds one with the agent as entrypoint', async () => {
    const first = await run();
    assert.equal(stageOf(first, 'live')!.status, 'skipped');
    assert.match(stageOf(first, 'live')!.detail!, /^full image \+ rollout: no pod runs an image built in live mode yet/);
    for (const stage of ['image', 'push', 'deploy', 'ready']) assert.equal(stageOf(first, stage)!.status, 'ok', stage);
    await delivery(first);

    // The image itself: the agent is PID 1 and runs the server it wraps (real container, real agent).
    const ref = first.image!;
    await dockerCli(['pull', ref]);
    const inspected = JSON.parse((await dockerCli(['image', 'inspect', ref])).stdout)[0] as { Config: { Entrypoint: string[] } };
    assert.deepEqual(inspected.Config.Entrypoint.slice(0, 4), ['/.tightloop/agent', 'run', '--target', '/server']);
    const port = await freePort();
    const id = (await dockerCli(['run', '-d', '--rm', '--network', 'host', ref, String(port)])).stdout.trim();
    try {
      await waitUntil('the live-mode image serves', 10_000, async () => (await get(port, '/')).body.startsWith('v1'));
    } finally {
      await dockerCli(['rm', '-f', id], { reject: false });
      await dockerCli(['rmi', ref], { reject: false });
    }

    assert.equal(livePods().length, 2);
    for (const pod of livePods()) assert.equal(await versionOf(pod.metadata.name), 'v1');
  });

  test('a save covered by live.sync reaches the running processes: no new image, no rollout, same pods', async () => {
    const pods = livePods().map((p) => `${p.metadata.name}/${p.metadata.uid}`).sort();
    const sets = replicaSets();
    const image = fake.cluster.get('deployments', 'default', 'api')!.spec.template.spec.containers[0].image;
    const generation = fake.cluster.get('deployments', 'default', 'api')!.metadata.generation;
    version = 'v2';
    await save('server', await serverBinary('v2'));
    const second = await run();
    const live = stageOf(second, 'live')!;
    assert.equal(live.status, 'ok', live.detail);
    assert.match(live.detail!, /1 file .* synced into .*: no new image, no rollout/);
    for (const stage of ['image', 'push', 'deploy', 'ready']) {
      assert.equal(stageOf(second, stage)!.status, 'skipped', stage);
      assert.match(stageOf(second, stage)!.detail!, /^live update/);
    }
    assert.deepEqual(livePods().map((p) => `${p.metadata.name}/${p.metadata.uid}`).sort(), pods, 'the same pods (UIDs) run');
    assert.deepEqual(replicaSets(), sets, 'no new ReplicaSet');
    assert.equal(fake.cluster.get('deployments', 'default', 'api')!.metadata.generation, generation, 'no write to the workload');
    assert.equal(fake.cluster.get('deployments', 'default', 'api')!.spec.template.spec.containers[0].image, image, 'the workload is untouched');
    for (const pod of livePods()) assert.equal(await versionOf(pod.metadata.name), 'v2', `${pod.metadata.name} serves the new code`);
  });

  test('a save not covered by live.sync falls back to a new image and a rollout, and says why', async () => {
    const uids = new Set(livePods().map((p) => p.metadata.uid));
    await save('settings.txt', 'two\n');
    const third = await run();
    const live = stageOf(third, 'live')!;
    assert.equal(live.status, 'skipped');
    assert.equal(live.detail, 'full image + rollout: settings.txt changed and is not covered by live.sync');
    for (const stage of ['image', 'push', 'deploy', 'ready']) assert.equal(stageOf(third, stage)!.status, 'ok', stage);
    await delivery(third);
    assert.ok(livePods().every((p) => !uids.has(p.metadata.uid)), 'new pods replaced the synced ones');
    for (const pod of livePods()) assert.equal(await versionOf(pod.metadata.name), 'v2');
  });

  test('a fallback to the very image the pods started from still replaces pods that got live files', async () => {
    version = 'v3';
    await save('server', await serverBinary('v3'));
    const synced = await run();
    assert.equal(stageOf(synced, 'live')!.status, 'ok');
    for (const pod of livePods()) assert.equal(await versionOf(pod.metadata.name), 'v3');

    // Back to the image's own content, with a change that always takes the full path.
    version = 'v2';
    await save('server', await serverBinary('v2'));
    await save('rebuild', 'now\n');
    const uids = new Set(livePods().map((p) => p.metadata.uid));
    const back = await saved(['server', 'rebuild']);
    assert.equal(stageOf(back, 'live')!.detail, 'full image + rollout: src/rebuild changed and matches live.fallBackOn');
    assert.equal(back.image, delivered.at(-1), 'the same image as the last delivery');
    assert.match(stageOf(back, 'deploy')!.detail!, /^restarted \(2 pods run live-synced files; the image .* is unchanged\)/);
    await delivery(back);
    assert.ok(livePods().every((p) => !uids.has(p.metadata.uid)), 'the pods with synced files were replaced');
    for (const pod of livePods()) assert.equal(await versionOf(pod.metadata.name), 'v2', 'they run the image content');
  });

  test('a pod still starting during a live sync is waited for and synced before the service counts as ready', async () => {
    // Scale up with a pod that cannot become ready by itself: the test turns it ready (a state, not a delay).
    fake.cluster.defaultScenario = { kind: 'probe-fail' };
    const d = fake.cluster.get('deployments', 'default', 'api')!;
    d.spec.replicas = 3;
    fake.cluster.store.update('deployments', d);
    await waitUntil('the third pod exists', 10_000, () => livePods().length === 3);
    const starting = livePods().find((p) => !containers.has(p.metadata.name))!.metadata.name;
    await backPods(); // its process runs the image's content (v2)

    let waiting = false;
    const off = engine.on((e) => {
      if (e.type === 'log' && e.line.stage === 'live' && e.line.text.startsWith(`waiting for ${starting}`)) waiting = true;
    });
    try {
      version = 'v4';
      await save('server', await serverBinary('v4'));
      const running = run();
      await waitUntil('the live stage waits for the starting pod', 20_000, () => waiting);
      const pod = fake.cluster.store.list('pods', 'default').find((p) => p.metadata.name === starting)!;
      pod.status.conditions = [...(pod.status.conditions ?? []).filter((c: { type: string }) => c.type !== 'Ready'), { type: 'Ready', status: 'True' }];
      fake.cluster.store.update('pods', pod);
      const summary = await running;
      const live = stageOf(summary, 'live')!;
      assert.equal(live.status, 'ok', live.detail);
      assert.match(live.detail!, new RegExp(`synced into .*${starting}`));
      for (const p of livePods()) assert.equal(await versionOf(p.metadata.name), 'v4', `${p.metadata.name} serves the new code`);
    } finally {
      off();
      fake.cluster.defaultScenario = { kind: 'ready' };
    }
  });
});
