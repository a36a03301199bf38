import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunModel, type ModelChange } from '../../src/extension/model/run-model.js';
import { LogBuffer } from '../../src/extension/model/log-buffer.js';
import { run } from './helpers.js';

describe('run model', () => {
  it('follows a run from queued to finished and records it in the history', () => {
    const m = new RunModel(3);
    m.reset([{ name: 'api', kind: 'service', manual: false }]);
    const changes: ModelChange[] = [];
    m.onChange((c) => changes.push(c));
    m.apply({ type: 'run-queued', service: 'api', trigger: { reason: 'save', changedFiles: [] } });
    assert.equal(m.get('api')!.queued, true);
    m.apply({ type: 'run-started', service: 'api', runId: 'r1', trigger: { reason: 'save', changedFiles: [] }, startedAt: 10 });
    assert.equal(m.get('api')!.queued, false);
    assert.equal(m.get('api')!.live?.runId, 'r1');
    m.apply({ type: 'stage-started', service: 'api', runId: 'r1', stage: 'compile', startedAt: 11 });
    assert.equal(m.get('api')!.live?.stage, 'compile');
    // Events of another run id (a stale run) are ignored.
    m.apply({ type: 'stage-started', service: 'api', runId: 'old', stage: 'push', startedAt: 12 });
    assert.equal(m.get('api')!.live?.stage, 'compile');
    const summary = { ...run('api', 10, [['trigger', 1], ['compile', 20]]), runId: 'r1' };
    m.apply({ type: 'run-finished', summary });
    assert.equal(m.get('api')!.live, undefined);
    assert.equal(m.get('api')!.last, summary);
    assert.equal(m.get('api')!.history.length, 1);
    assert.ok(changes.at(-1)!.history.has('api'));
  });

  it('keeps a queued follow-up visible when the current run finishes', () => {
    const m = new RunModel();
    m.reset([{ name: 'api', kind: 'service', manual: false }]);
    m.apply({ type: 'run-started', service: 'api', runId: 'r1', trigger: { reason: 'save', changedFiles: [] }, startedAt: 0 });
    m.apply({ type: 'run-queued', service: 'api', trigger: { reason: 'save', changedFiles: [] } });
    m.apply({ type: 'run-finished', summary: { ...run('api', 0, [['compile', 5]]), runId: 'r1' } });
    assert.equal(m.get('api')!.queued, true);
    // Cancelled while queued: the engine ends it without starting it.
    m.apply({ type: 'run-finished', summary: { ...run('api', 10, []), runId: 'x-skip', status: 'cancelled' } });
    assert.equal(m.get('api')!.queued, false);
    assert.equal(m.get('api')!.history.length, 1, 'runs without stages are not history');
  });

  it('caps the history and drops compiler diagnostics on the next success', () => {
    const m = new RunModel(2);
    m.reset([{ name: 'api', kind: 'service', manual: false }]);
    m.apply({ type: 'diagnostics', service: 'api', runId: 'r', diagnostics: [{ file: '/w/a.c', line: 1, column: 1, severity: 'error', message: 'x' }] });
    assert.equal(m.get('api')!.diagnostics.length, 1);
    m.apply({ type: 'run-finished', summary: run('api', 0, [['compile', 5, 'failed']], 'failed') });
    assert.equal(m.get('api')!.diagnostics.length, 1, 'a failure keeps them');
    const changes: ModelChange[] = [];
    m.onChange((c) => changes.push(c));
    for (const at of [10, 20, 30]) m.apply({ type: 'run-finished', summary: run('api', at, [['compile', 5]]) });
    assert.equal(m.get('api')!.diagnostics.length, 0);
    assert.ok(changes[0]!.diagnostics.has('api'));
    assert.deepEqual(m.get('api')!.history.map((r) => r.startedAt), [20, 30]);
    assert.equal(m.findRun('api', 'api-20')?.startedAt, 20);
    assert.equal(m.findRun('api', 'api-0'), undefined);
  });

  it('tracks pending changes of manual services until they run', () => {
    const m = new RunModel();
    m.reset([{ name: 'db', kind: 'service', manual: true }]);
    m.apply({ type: 'changes-pending', service: 'db', changedFiles: ['/a'] });
    assert.deepEqual(m.get('db')!.pending, ['/a']);
    m.apply({ type: 'run-started', service: 'db', runId: 'r', trigger: { reason: 'manual', changedFiles: [] }, startedAt: 0 });
    assert.deepEqual(m.get('db')!.pending, []);
  });

  it('loads history at reset, oldest first, without stage-less runs', () => {
    const m = new RunModel(50);
    const runs = [run('api', 0, [['compile', 1]]), run('api', 5, []), run('api', 10, [['compile', 2]])];
    m.reset([{ name: 'api', kind: 'service', manual: false }], new Map([['api', runs]]));
    assert.deepEqual(m.get('api')!.history.map((r) => r.startedAt), [0, 10]);
    assert.equal(m.get('api')!.last?.startedAt, 10);
  });
});

describe('log buffer', () => {
  it('keeps the newest lines per stage and the last runs per service', () => {
    const logs = new LogBuffer(2, 3);
    for (let i = 0; i < 5; i++) logs.add({ service: 'api', runId: 'r1', stage: 'compile', stream: 'stdout', text: `l${i}`, time: i });
    const got = logs.get('api', 'r1', 'compile');
    assert.deepEqual(got.lines.map((l) => l.text), ['l2', 'l3', 'l4']);
    assert.equal(got.dropped, 2);
    assert.deepEqual(logs.get('api', 'r1', 'compile', 1).lines.map((l) => l.text), ['l4']);
    logs.startRun('api', 'r2');
    assert.deepEqual(logs.get('api', 'r2', 'compile'), { lines: [], dropped: 0, available: true });
    logs.startRun('api', 'r3');
    assert.equal(logs.get('api', 'r1', 'compile').available, false, 'oldest run forgotten');
  });
});

describe('hold reasons on the panel card (issue 10)', () => {
  it('a queued run carries the engine reason into the panel view until it starts', async () => {
    const { serviceView } = await import('../../src/extension/panel/panel-feed.js');
    const { ServiceViewSchema } = await import('../../src/shared/messages.js');
    const m = new RunModel(3);
    m.reset([{ name: 'web', kind: 'service', manual: false }]);
    m.apply({ type: 'run-queued', service: 'web', trigger: { reason: 'save', changedFiles: [] } });
    m.apply({ type: 'run-waiting', service: 'web', reason: { kind: 'parallelism', message: 'waiting for a parallelism slot (2 in use)' } });
    const view = ServiceViewSchema.parse(serviceView(m.get('web')!));
    assert.equal(view.waiting, 'waiting for a parallelism slot (2 in use)');
    m.apply({ type: 'run-started', service: 'web', runId: 'w1', trigger: { reason: 'save', changedFiles: [] }, startedAt: 1 });
    assert.equal(serviceView(m.get('web')!).waiting, undefined);
  });
});
