import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ClusterTarget } from '../../src/engine/kube/target.js';
import type { TimingRecord } from '../../src/engine/types.js';
import { RunModel, type ServiceDescriptor } from '../../src/extension/model/run-model.js';
import type { Phase } from '../../src/extension/model/status-model.js';
import { childKeys, node, rootKeys, type TreeInput, type TreeNode } from '../../src/extension/model/tree-model.js';
import { TreeUpdates } from '../../src/extension/model/tree-updates.js';
import { run } from './helpers.js';

const trigger = { reason: 'save' as const, changedFiles: [] };

function input(model: RunModel, phase: Phase = { kind: 'ready' }, now = 10_000): TreeInput {
  return { phase, get: (n) => model.get(n), services: () => model.services(), tasks: () => model.tasks(), cluster: model.cluster, autoRebuild: true, now };
}

function must(key: string, i: TreeInput): TreeNode {
  const n = node(key, i);
  assert.ok(n, `no node ${key}`);
  return n;
}

function exampleModel(): RunModel {
  const m = new RunModel();
  const services: ServiceDescriptor[] = [
    { name: 'hello', kind: 'service', manual: false, workload: 'deployment/hello', portForwards: [{ local: 18080, remote: 8080 }] },
    { name: 'version-check', kind: 'task', manual: true },
  ];
  m.reset(services);
  m.setCluster({ context: 'kind-e2e', namespace: 'default', allowed: true, server: 'https://127.0.0.1:6443' });
  return m;
}

/** The inline actions package.json gives a row (evaluates the `when` forms the manifest uses). */
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  contributes: { menus: Record<string, { command: string; when?: string; group?: string }[]>; commands: { command: string }[] };
};
function inlineActions(contextValue: string): string[] {
  return manifest.contributes.menus['view/item/context']!
    .filter((item) => item.group?.startsWith('inline') && whenHolds(item.when ?? '', contextValue))
    .sort((a, b) => a.group!.localeCompare(b.group!))
    .map((item) => item.command);
}
function whenHolds(when: string, viewItem: string): boolean {
  return when.split('&&').every((clause) => {
    const c = clause.trim();
    if (c === 'view == tightloop.services') return true;
    const regex = /^viewItem =~ \/(.*)\/$/.exec(c);
    if (regex) return new RegExp(regex[1]!).test(viewItem);
    const equal = /^viewItem == (.*)$/.exec(c);
    if (equal) return viewItem === equal[1];
    throw new Error(`unexpected when clause ${c}`);
  });
}

describe('tree model', () => {
  it('shows the header, the groups, and each service with its state, stage and last duration', () => {
    const m = exampleModel();
    let i = input(m);
    assert.deepEqual(rootKeys(i), ['header', 'group/services', 'group/tasks']);
    assert.deepEqual(childKeys('group/services', i), ['service/hello']);
    assert.deepEqual(childKeys('group/tasks', i), ['task/version-check']);
    const header = must('header', i);
    assert.equal(header.label, 'kind-e2e');
    assert.equal(header.description, 'default');
    assert.equal(header.icon.id, 'server-environment');

    let hello = must('service/hello', i);
    assert.equal(hello.state, 'idle');
    assert.equal(hello.description, 'not run yet');
    assert.deepEqual(inlineActions(hello.contextValue), ['tightloop.rebuildService', 'tightloop.setTriggerManual', 'tightloop.showStageTimings', 'tightloop.showLogs']);
    // The port-forward is a child with its URL, and it opens from its inline button.
    assert.deepEqual(childKeys('service/hello', i), ['service/hello/forward/18080']);
    const forward = must('service/hello/forward/18080', i);
    assert.equal(forward.url, 'http://127.0.0.1:18080');
    assert.deepEqual(inlineActions(forward.contextValue), ['tightloop.openPortForward']);
    assert.deepEqual(forward.command?.arguments, ['http://127.0.0.1:18080']);

    m.apply({ type: 'run-queued', service: 'hello', trigger });
    hello = must('service/hello', input(m));
    assert.equal(hello.state, 'queued');
    assert.equal(hello.description, 'queued (save)');
    assert.deepEqual(inlineActions(hello.contextValue).slice(0, 1), ['tightloop.cancelRun']);

    m.apply({ type: 'run-started', service: 'hello', runId: 'r1', trigger, startedAt: 1000 });
    m.apply({ type: 'stage-started', service: 'hello', runId: 'r1', stage: 'compile', startedAt: 1100 });
    i = input(m, { kind: 'ready' }, 4200);
    hello = must('service/hello', i);
    assert.equal(hello.state, 'running');
    assert.equal(hello.icon.id, 'sync~spin');
    assert.equal(hello.description, 'running compile · 3.2s');
    assert.deepEqual(inlineActions(hello.contextValue).slice(0, 1), ['tightloop.cancelRun']);
    assert.ok(!inlineActions(hello.contextValue).includes('tightloop.rebuildService'), 'no rebuild button while running');

    m.apply({ type: 'run-finished', summary: { ...run('hello', 1000, [['trigger', 0], ['compile', 1200], ['staging', 30]]), runId: 'r1' } });
    hello = must('service/hello', input(m));
    assert.equal(hello.state, 'ok');
    assert.equal(hello.icon.id, 'pass');
    assert.equal(hello.description, 'ok · 1.23 s');
  });

  it('a failed run shows the stage in the description and the cause as an expanded child', () => {
    const m = exampleModel();
    m.apply({ type: 'run-finished', summary: run('hello', 0, [['compile', 800, 'failed']], 'failed', { failedStage: 'compile', error: 'compile: exit code 1: undefined symbol x', hint: 'fix main.c' }) });
    const i = input(m);
    const hello = must('service/hello', i);
    assert.equal(hello.state, 'failed');
    assert.equal(hello.icon.id, 'error');
    assert.equal(hello.description, 'failed at compile · 800 ms');
    assert.equal(hello.collapsible, 'expanded');
    assert.deepEqual(childKeys('service/hello', i), ['service/hello/failure', 'service/hello/forward/18080']);
    const failure = must('service/hello/failure', i);
    assert.equal(failure.label, 'compile: exit code 1: undefined symbol x');
    assert.match(failure.tooltip!, /fix main\.c/);
    // A new run hides the old failure.
    m.apply({ type: 'run-started', service: 'hello', runId: 'r2', trigger, startedAt: 5 });
    assert.deepEqual(childKeys('service/hello', input(m)), ['service/hello/forward/18080']);
  });

  it('tasks get run and cancel buttons; manual services say so and list their pending changes', () => {
    const m = exampleModel();
    const task = must('task/version-check', input(m));
    assert.deepEqual(inlineActions(task.contextValue), ['tightloop.runTask', 'tightloop.showStageTimings', 'tightloop.showLogs']);
    m.apply({ type: 'trigger-changed', service: 'hello', trigger: 'manual' });
    m.apply({ type: 'changes-pending', service: 'hello', changedFiles: ['/w/src/main.c', '/w/src/util.c'] });
    const i = input(m);
    const hello = must('service/hello', i);
    assert.equal(hello.description, 'not run yet · manual · 2 pending');
    assert.ok(inlineActions(hello.contextValue).includes('tightloop.setTriggerAuto'));
    assert.ok(!inlineActions(hello.contextValue).includes('tightloop.setTriggerManual'));
    assert.equal(must('service/hello/pending', i).label, '2 changed files pending');
  });

  it('the header warns about a context that is not allowed, and says when there is no cluster', () => {
    const m = exampleModel();
    m.setCluster({ context: 'prod-eu', namespace: 'shop', allowed: false } satisfies ClusterTarget);
    const refused = must('header', input(m));
    assert.equal(refused.icon.id, 'warning');
    assert.match(refused.description!, /shop · not allowed/);
    assert.match(refused.tooltip!, /allowContexts/);
    m.setCluster({ namespace: 'default', allowed: false, problem: 'No kubeconfig found (looked at /root/.kube/config).' });
    const none = must('header', input(m));
    assert.equal(none.label, 'No cluster');
    assert.match(none.tooltip!, /No kubeconfig found/);
  });

  it('is empty without a config or when untrusted (the welcome view shows), and one line while loading or broken', () => {
    const m = exampleModel();
    assert.deepEqual(rootKeys(input(m, { kind: 'no-config' })), []);
    assert.deepEqual(rootKeys(input(m, { kind: 'untrusted' })), []);
    assert.deepEqual(rootKeys(input(m, { kind: 'loading' })), ['message']);
    const broken = must('message', input(m, { kind: 'config-error', file: '/w/tightloop.yaml', count: 2 }));
    assert.equal(broken.label, 'tightloop.yaml has 2 problems');
    assert.equal(broken.command?.command, 'tightloop.openConfig');
  });

  it('lists the workload\'s pods with readiness and restarts once they are known', () => {
    const m = exampleModel();
    assert.deepEqual(childKeys('service/hello', input(m)), ['service/hello/forward/18080']);
    m.apply({ type: 'pods', service: 'hello', pods: [{ name: 'hello-7d9-abc', ready: true, restarts: 0, phase: 'Running' }, { name: 'hello-7d9-def', ready: false, restarts: 3, phase: 'Pending' }] });
    const i = input(m);
    assert.deepEqual(childKeys('service/hello', i), ['service/hello/pod/hello-7d9-abc', 'service/hello/pod/hello-7d9-def', 'service/hello/forward/18080']);
    const good = must('service/hello/pod/hello-7d9-abc', i);
    assert.equal(good.description, 'ready · 0 restarts');
    assert.equal(good.icon.color, 'testing.iconPassed');
    const bad = must('service/hello/pod/hello-7d9-def', i);
    assert.equal(bad.description, 'not ready (Pending) · 3 restarts');
    assert.equal(bad.icon.color, 'list.warningForeground');
  });

  it('a run whose last stage synced live shows as live-synced', () => {
    const m = exampleModel();
    const summary = run('hello', 0, [['compile', 100], ['staging', 5]]);
    // The live stage (live update) is not a StageName yet where this test was written.
    summary.records.push({ ...summary.records[0]!, stage: 'live' as unknown as TimingRecord['stage'], status: 'ok' });
    m.apply({ type: 'run-finished', summary });
    const hello = must('service/hello', input(m));
    assert.equal(hello.state, 'live-synced');
    assert.equal(hello.icon.id, 'zap');
  });

  it('every command the view uses is contributed, and the argument-taking ones are hidden from the palette', () => {
    const declared = new Set(manifest.contributes.commands.map((c) => c.command));
    for (const item of [...manifest.contributes.menus['view/item/context']!, ...manifest.contributes.menus['view/title']!]) assert.ok(declared.has(item.command), item.command);
    const hidden = manifest.contributes.menus.commandPalette!.filter((c) => c.when === 'false').map((c) => c.command);
    assert.deepEqual(hidden.sort(), ['tightloop.openPortForward', 'tightloop.setTriggerAuto', 'tightloop.setTriggerManual']);
  });
});

describe('tree updates with 300 services', () => {
  function bigModel(): RunModel {
    const m = new RunModel();
    m.reset(Array.from({ length: 300 }, (_, n) => ({ name: `svc-${n}`, kind: 'service' as const, manual: false })));
    return m;
  }

  it('a run of one service refreshes that row only, in one coalesced event', async () => {
    const m = bigModel();
    const fired: (string[] | undefined)[] = [];
    const updates = new TreeUpdates(m, (keys) => fired.push(keys), 5);
    m.onChange((c) => updates.modelChanged(c));
    m.apply({ type: 'run-queued', service: 'svc-42', trigger });
    m.apply({ type: 'run-started', service: 'svc-42', runId: 'r', trigger, startedAt: 0 });
    for (const stage of ['compile', 'staging', 'image'] as const) m.apply({ type: 'stage-started', service: 'svc-42', runId: 'r', stage, startedAt: 1 });
    m.apply({ type: 'run-finished', summary: { ...run('svc-42', 0, [['compile', 5]]), runId: 'r' } });
    // The events above arrived in one burst: the timer sends them as one change event.
    while (fired.length === 0) await new Promise<void>((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(fired, [['service/svc-42']]);
    updates.dispose();
  });

  it('a burst across all 300 services becomes one event naming each changed row once', () => {
    const m = bigModel();
    const fired: (string[] | undefined)[] = [];
    const updates = new TreeUpdates(m, (keys) => fired.push(keys), 1000);
    m.onChange((c) => updates.modelChanged(c));
    for (let round = 0; round < 5; round++) for (let n = 0; n < 300; n += 2) m.apply({ type: 'run-queued', service: `svc-${n}`, trigger });
    updates.flush();
    assert.equal(fired.length, 1);
    assert.equal(fired[0]!.length, 150);
    assert.equal(new Set(fired[0]).size, 150);
    assert.ok(fired[0]!.every((k) => /^service\/svc-\d*[02468]$/.test(k)));
    // Every row is still drawn from the model.
    const i = input(m);
    assert.equal(childKeys('group/services', i).length, 300);
    assert.equal(childKeys('group/services', i).filter((k) => node(k, i)!.state === 'queued').length, 150);
    updates.dispose();
  });

  it('a new config (another set of rows) or another cluster is one full refresh', () => {
    const m = bigModel();
    const fired: (string[] | undefined)[] = [];
    const updates = new TreeUpdates(m, (keys) => fired.push(keys), 1000);
    m.onChange((c) => updates.modelChanged(c));
    m.apply({ type: 'run-queued', service: 'svc-1', trigger });
    m.reset([{ name: 'other', kind: 'service', manual: false }]);
    updates.flush();
    assert.deepEqual(fired, [undefined]);
    m.setCluster({ context: 'kind-x', namespace: 'default', allowed: true });
    updates.flush();
    assert.deepEqual(fired, [undefined, undefined]);
    updates.dispose();
  });
});
