import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { StageError } from '../../src/engine/stages/stage.js';
import type { FakeKubeServer, InjectedFault } from '../fake-kube/server.js';
import { deployAndReady, deployment, makeConfig, makeCtx, startCluster, stagesFor } from './helpers.js';

/**
 * Transient API server failures (429, 5xx, a connection reset) during deploy and the ready watches
 * are retried, boundedly, each retry logged with its cause; refusals and rejected objects are not.
 */

const NEW_IMAGE = 'registry.local/api:v2';
const RETRY = { retries: 3, baseDelayMs: 10, maxDelayMs: 50 };
const isPatch = (method: string, path: string) => method === 'PATCH' && path === '/apis/apps/v1/namespaces/default/deployments/api';
const isWorkloadGet = (method: string, path: string) => method === 'GET' && path === '/apis/apps/v1/namespaces/default/deployments/api';
const isPodList = (method: string, path: string, query: Record<string, string>) => method === 'GET' && path === '/api/v1/namespaces/default/pods' && query.watch !== 'true';

describe('API retries (transient failures only)', () => {
  const servers: FakeKubeServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close().catch(() => {}))));

  async function cluster(faults: InjectedFault[]) {
    const fake = await startCluster([deployment()]);
    servers.push(fake);
    fake.faults.push(...faults);
    const config = makeConfig(fake.kubeconfigPath);
    const ctx = makeCtx(config, { deployRef: NEW_IMAGE });
    const outcome = await deployAndReady(stagesFor(config, { retry: RETRY }), ctx).catch((error: unknown) => error);
    const warnings = ctx.lines.filter((l) => l.stream === 'warn').map((l) => l.text);
    return { fake, ctx, outcome, warnings };
  }

  it('a 503 on the read, a 429 (Retry-After) and a reset on the patch, and a 500 on the ready pod list: the rollout still succeeds, every retry logged', async () => {
    const read: InjectedFault = { match: isWorkloadGet, fault: { status: 503 }, times: 1 };
    const throttled: InjectedFault = { match: isPatch, fault: { status: 429, retryAfterSeconds: 0 }, times: 1 };
    const reset: InjectedFault = { match: isPatch, fault: 'reset', times: 1 };
    const list: InjectedFault = { match: isPodList, fault: { status: 500 }, times: 2 };
    const { fake, ctx, outcome, warnings } = await cluster([read, throttled, reset, list]);
    const text = ctx.lines.map((l) => `[${l.stream}] ${l.text}`).join('\n');
    assert.ok(!(outcome instanceof Error), `${String(outcome)}\n${text}`);
    assert.deepEqual([read.failed, throttled.failed, reset.failed, list.failed], [1, 1, 1, 2]);
    assert.ok(warnings.some((w) => /^retry 1 of 3 to read deployment\/api in \d+ ms: injected fault: HTTP 503 \(HTTP 503\)$/.test(w)), text);
    assert.ok(warnings.some((w) => /^retry 1 of 3 to patch deployment\/api in \d+ ms: injected fault: HTTP 429 \(HTTP 429\)$/.test(w)), text);
    assert.ok(warnings.some((w) => /^retry 2 of 3 to patch deployment\/api in \d+ ms: connection reset/.test(w)), text);
    assert.equal(ctx.lines.filter((l) => /^retry \d of \d+ of the watch of \/api\/v1\/namespaces\/default\/pods in \d+ ms: .*500/.test(l.text)).length, 2, text);
    assert.ok(fake.cluster.activePods().every((p) => p.spec.containers[0].image === NEW_IMAGE));
  });

  it('an API server answering 503 to every patch: deploy fails after a bounded number of attempts, naming the cause', async () => {
    const always: InjectedFault = { match: isPatch, fault: { status: 503 }, times: Infinity };
    const { outcome, warnings } = await cluster([always]);
    assert.ok(outcome instanceof StageError, String(outcome));
    assert.match(outcome.message, /injected fault: HTTP 503.*\(gave up after 4 attempts\)\.$/);
    assert.equal(always.failed, 4, 'first try + 3 retries');
    assert.equal(warnings.filter((w) => w.startsWith('retry ')).length, 3);
  });

  it('a rejected patch (422) and a refused read (403) are not retried', async () => {
    const invalid: InjectedFault = { match: isPatch, fault: { status: 422 }, times: Infinity };
    const first = await cluster([invalid]);
    assert.ok(first.outcome instanceof StageError, String(first.outcome));
    assert.equal(invalid.failed, 1);
    assert.doesNotMatch(first.outcome.message, /gave up/);

    const forbidden: InjectedFault = { match: isPodList, fault: { status: 403 }, times: Infinity };
    const second = await cluster([forbidden]);
    assert.ok(second.outcome instanceof StageError, String(second.outcome));
    assert.equal(forbidden.failed, 1, 'the ready pod list is not retried after a 403');
    assert.deepEqual(second.warnings.filter((w) => w.startsWith('retry ')), []);
  });
});
