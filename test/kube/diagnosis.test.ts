import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { StageError } from '../../src/engine/stages/stage.js';
import type { PodScenario } from '../fake-kube/kubelet.js';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { deployAndReady, deployment, makeConfig, makeCtx, startCluster, stagesFor } from './helpers.js';

/**
 * Each way a rollout fails, simulated by the fake kubelet, must come back as one sentence naming
 * the pod, the container and the cause, with the evidence attached.
 */

const NEW_IMAGE = 'registry.local/api@sha256:' + 'b'.repeat(64);

describe('failure diagnosis', () => {
  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  async function failRollout(scenario: PodScenario, opts: { readyTimeoutMs?: number; nodes?: { name: string; arch?: string }[]; workload?: object } = {}) {
    const fake = await startCluster([opts.workload ?? deployment({ probe: true })], opts.nodes ? { nodes: opts.nodes } : {});
    servers.push(fake);
    fake.cluster.imageScenarios.set(NEW_IMAGE, scenario);
    const config = makeConfig(fake.kubeconfigPath, { readyTimeoutMs: opts.readyTimeoutMs ?? 5000 });
    const stages = stagesFor(config);
    const ctx = makeCtx(config, { deployRef: NEW_IMAGE });
    const started = Date.now();
    const err = await deployAndReady(stages, ctx).then(
      () => assert.fail('the rollout should have failed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StageError, `a StageError, got ${String(err)}`);
    const newPod = fake.cluster.pods().find((p) => p.spec.containers[0].image === NEW_IMAGE);
    assert.ok(newPod, 'the new pod exists');
    return { err, elapsed: Date.now() - started, pod: newPod.metadata.name, fake, evidence: err.options.evidence ?? [] };
  }

  it('ErrImagePull / ImagePullBackOff: names the image and hints at delivery, without waiting for the timeout', async () => {
    const { err, elapsed, pod, evidence } = await failRollout({ kind: 'image-pull' }, { readyTimeoutMs: 20_000 });
    assert.match(err.message, new RegExp(`^Pod ${pod}, container "api": the image ${escape(NEW_IMAGE)} cannot be pulled \\((ErrImagePull|ImagePullBackOff)\\)\\.$`));
    assert.match(err.options.hint!, /registry the nodes can reach/);
    assert.ok(evidence.some((l) => l.includes('not found')), evidence.join('\n'));
    assert.ok(elapsed < 5000, `failed fast (${elapsed} ms)`);
  });

  it('CrashLoopBackOff: exit code and the last 20 log lines of the crashed run', async () => {
    const logs = Array.from({ length: 25 }, (_, i) => `line ${i + 1}`);
    const { err, pod, evidence } = await failRollout({ kind: 'crash-loop', exitCode: 3, logs });
    assert.equal(err.message, `Pod ${pod}, container "api" keeps crashing (CrashLoopBackOff, exit code 3).`);
    const logLines = evidence.filter((l) => /^ {2}line \d+$/.test(l)).map((l) => l.trim());
    assert.deepEqual(logLines, logs.slice(-20));
    assert.ok(evidence.includes('last 20 log lines of api:'), evidence.join('\n'));
  });

  it('OOMKilled: says out of memory with the limit', async () => {
    const w = deployment({ containers: [{ name: 'api', image: 'registry.local/api:v1', resources: { limits: { memory: '64Mi' } } }] });
    const { err, pod } = await failRollout({ kind: 'oom' }, { workload: w });
    assert.equal(err.message, `Pod ${pod}, container "api" was killed for running out of memory (OOMKilled, limit 64Mi, exit code 137).`);
    assert.match(err.options.hint!, /limits\.memory/);
  });

  it('readiness probe failing: waits for the timeout, then quotes the probe event', async () => {
    const { err, pod, evidence, elapsed } = await failRollout({ kind: 'probe-fail', message: 'Readiness probe failed: HTTP probe failed with statuscode: 503' }, { readyTimeoutMs: 600 });
    assert.equal(err.message, `Pod ${pod}, container "api" is running but its readiness probe keeps failing: Readiness probe failed: HTTP probe failed with statuscode: 503.`);
    assert.ok(evidence[0]!.startsWith('not ready after 600 ms'), evidence[0]);
    assert.ok(evidence.some((l) => /^Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503 \(×\d+\)$/.test(l)), evidence.join('\n'));
    assert.ok(evidence.includes('readinessProbe: httpGet /healthz on port 8080, every 2s'));
    assert.ok(elapsed >= 600 && elapsed < 4000, `${elapsed} ms`);
  });

  it('Pending / unschedulable: quotes the scheduler event', async () => {
    const message = '0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.';
    const { err, pod, evidence } = await failRollout({ kind: 'unschedulable', message }, { readyTimeoutMs: 500 });
    assert.equal(err.message, `Pod ${pod} (container "api") cannot be scheduled: ${message.replace(/\.$/, '')}.`);
    assert.ok(evidence.includes(`FailedScheduling: ${message}`), evidence.join('\n'));
  });

  it('CreateContainerConfigError: names the missing secret', async () => {
    const { err, pod } = await failRollout({ kind: 'config-error', message: 'secret "db-credentials" not found' });
    assert.equal(err.message, `Pod ${pod}, container "api" cannot be created: secret "db-credentials" not found (CreateContainerConfigError).`);
    assert.match(err.options.hint!, /Secret \/ ConfigMap in namespace default/);
  });

  it('"exec format error" in the logs: an architecture mismatch with the node arch', async () => {
    const { err, pod, evidence } = await failRollout({ kind: 'exec-format', binary: '/app/api' }, { nodes: [{ name: 'arm-node', arch: 'arm64' }] });
    assert.equal(err.message, `Pod ${pod}, container "api" cannot start its program: "exec format error" means the image was built for a different CPU architecture than node arm-node (arm64).`);
    assert.match(err.options.hint!, /image\.platform to linux\/arm64/);
    assert.ok(evidence.includes('  exec /app/api: exec format error'), evidence.join('\n'));
  });

  it('a failing sidecar is named instead of the updated container', async () => {
    const w = deployment({ containers: [
      { name: 'api', image: 'registry.local/api:v1' },
      { name: 'vault-agent', image: 'vault:1' },
    ] });
    const fake = await startCluster([w]);
    servers.push(fake);
    fake.cluster.imageScenarios.set(NEW_IMAGE, { kind: 'config-error', container: 'vault-agent', message: 'configmap "vault-config" not found' });
    const config = makeConfig(fake.kubeconfigPath, { container: 'api' });
    const err = await deployAndReady(stagesFor(config), makeCtx(config, { deployRef: NEW_IMAGE })).catch((e: StageError) => e);
    assert.ok(err instanceof StageError, String(err));
    assert.match(err.message, /container "vault-agent" cannot be created: configmap "vault-config" not found/);
  });

  it('a Deployment past progressDeadlineSeconds fails with the controller condition', async () => {
    const { err } = await failRollout({ kind: 'probe-fail' }, { workload: deployment({ progressDeadlineSeconds: 1 }), readyTimeoutMs: 10_000 });
    assert.match(err.message, /readiness probe keeps failing/);
    assert.ok(err.options.evidence!.some((l) => /deployment\/api: ReplicaSet "api-\w+" has timed out progressing/.test(l)), err.options.evidence!.join('\n'));
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
