import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunModel } from '../../src/extension/model/run-model.js';
import { link, statusBarServices, statusPicture, type Phase } from '../../src/extension/model/status-model.js';
import { run } from './helpers.js';

function model(...names: string[]) {
  const m = new RunModel(50);
  m.reset(names.map((name) => ({ name, kind: 'service' as const, manual: false })));
  return m;
}

const ready: Phase = { kind: 'ready' };

describe('status bar picture', () => {
  it('is idle with no run yet, and clicking rebuilds the current file', () => {
    const p = statusPicture({ phase: ready, services: model('api').all(), autoRebuild: true, now: 0 });
    assert.equal(p.kind, 'idle');
    assert.equal(p.text, '$(play) Tightloop');
    assert.equal(p.command.command, 'tightloop.rebuildCurrentFile');
    assert.equal(p.error, false);
    assert.match(p.tooltip, /Auto-rebuild on save is \*\*on\*\*/);
  });

  it('shows spinner, service, current stage and elapsed while running, ticking, with cancel in the tooltip', () => {
    const m = model('api');
    m.apply({ type: 'run-started', service: 'api', runId: 'r1', trigger: { reason: 'save', changedFiles: [] }, startedAt: 1_000 });
    m.apply({ type: 'stage-finished', record: { service: 'api', runId: 'r1', stage: 'trigger', startedAt: 990, durationMs: 10, status: 'ok', detail: 'save: main.c' } });
    m.apply({ type: 'stage-started', service: 'api', runId: 'r1', stage: 'compile', startedAt: 1_010 });
    const p = statusPicture({ phase: ready, services: m.all(), autoRebuild: true, now: 4_250 });
    assert.equal(p.kind, 'running');
    assert.equal(p.text, '$(sync~spin) api · compile · 3.3s');
    assert.equal(p.ticking, true);
    assert.match(p.tooltip, /command:tightloop\.cancelRun\?/);
    assert.match(p.tooltip, /\| compile \| 3\.2s \| \$\(sync~spin\) running \|/);
    assert.match(p.tooltip, /\| trigger \| 10 ms \| \$\(check\) save: main\.c \|/);
  });

  it('the tooltip says why a queued run waits (hold reason)', () => {
    const m = model('api', 'web');
    m.apply({ type: 'run-started', service: 'api', runId: 'r1', trigger: { reason: 'save', changedFiles: [] }, startedAt: 0 });
    m.apply({ type: 'run-queued', service: 'web', trigger: { reason: 'dependency', changedFiles: [] } });
    m.apply({ type: 'run-waiting', service: 'web', reason: { kind: 'dependency', on: ['api'], message: 'waiting for dependency "api"' } });
    const p = statusPicture({ phase: ready, services: m.all(), autoRebuild: true, now: 100 });
    assert.match(p.tooltip, /- `web`: waiting for dependency "api"/);
    m.apply({ type: 'run-started', service: 'web', runId: 'w1', trigger: { reason: 'dependency', changedFiles: [] }, startedAt: 200 });
    assert.doesNotMatch(statusPicture({ phase: ready, services: m.all(), autoRebuild: true, now: 300 }).tooltip, /waiting for dependency/);
  });

  it('counts other running services', () => {
    const m = model('api', 'web');
    for (const s of ['api', 'web']) m.apply({ type: 'run-started', service: s, runId: `${s}1`, trigger: { reason: 'manual', changedFiles: [] }, startedAt: 0 });
    assert.match(statusPicture({ phase: ready, services: m.all(), autoRebuild: true, now: 500 }).text, /^\$\(sync~spin\) api · 0\.5s \+1$/);
  });

  it('shows the total after success, and a stage table with command links in the tooltip', () => {
    const m = model('api');
    m.apply({ type: 'run-finished', summary: run('api', 0, [['trigger', 5], ['compile', 800], ['staging', 40], ['image', 0, 'skipped', 'no image configured'], ['push', 0, 'skipped', 'no image configured']]) });
    const p = statusPicture({ phase: ready, services: m.all(), autoRebuild: true, now: 2_000 });
    assert.equal(p.kind, 'succeeded');
    assert.equal(p.text, '$(check) api 845 ms');
    assert.equal(p.ticking, false);
    assert.match(p.tooltip, /\| Stage \| Time \| \|/);
    assert.match(p.tooltip, /\| image \| — \| \$\(debug-step-over\) no image configured \|/);
    assert.match(p.tooltip, /\| push \| — \| \$\(debug-step-over\) same as above \|/, 'a repeated reason is said once');
    assert.ok(p.tooltip.includes(`(command:tightloop.rebuildService?${encodeURIComponent('["api"]')} "Rebuild api")`));
    assert.doesNotMatch(p.tooltip, /cancelRun/);
  });

  it('paints a failure in the error colour with the failing stage, and keeps it over a later success elsewhere', () => {
    const m = model('api', 'web');
    m.apply({ type: 'run-finished', summary: run('api', 0, [['trigger', 1], ['compile', 300, 'failed']], 'failed', { failedStage: 'compile', error: 'compile: 1 compile error(s)', hint: 'fix main.c' }) });
    m.apply({ type: 'run-finished', summary: run('web', 1000, [['trigger', 1], ['compile', 100]]) });
    const p = statusPicture({ phase: ready, services: m.all(), autoRebuild: true, now: 5_000 });
    assert.equal(p.kind, 'failed');
    assert.equal(p.error, true);
    assert.equal(p.text, '$(error) api: compile failed');
    assert.match(p.tooltip, /> compile: 1 compile error\\\(s\\\)/);
    assert.match(p.tooltip, /_Hint:_ fix main\.c/);
  });

  it('clears the failure once that service succeeds again', () => {
    const m = model('api');
    m.apply({ type: 'run-finished', summary: run('api', 0, [['compile', 300, 'failed']], 'failed', { failedStage: 'compile' }) });
    m.apply({ type: 'run-finished', summary: run('api', 1000, [['compile', 200]]) });
    assert.equal(statusPicture({ phase: ready, services: m.all(), autoRebuild: true, now: 2_000 }).kind, 'succeeded');
  });

  it('mentions pending changes of manual services', () => {
    const m = new RunModel();
    m.reset([{ name: 'db', kind: 'service', manual: true }]);
    m.apply({ type: 'changes-pending', service: 'db', changedFiles: ['/w/a.sql', '/w/b.sql'] });
    const p = statusPicture({ phase: ready, services: m.all(), autoRebuild: true, now: 0 });
    assert.equal(p.text, '$(play) Tightloop $(circle-filled) 1 pending');
    assert.match(p.tooltip, /`db`: changes pending \(2 file\(s\)\)/);
  });

  it('explains the non-ready phases and sends the click somewhere useful', () => {
    const untrusted = statusPicture({ phase: { kind: 'untrusted' }, services: [], autoRebuild: true, now: 0 });
    assert.equal(untrusted.command.command, 'workbench.trust.manage');
    assert.match(untrusted.tooltip, /runs nothing until you trust this workspace/);
    const broken = statusPicture({ phase: { kind: 'config-error', file: '/w/tightloop.yaml', count: 2 }, services: [], autoRebuild: true, now: 0 });
    assert.equal(broken.error, true);
    assert.equal(broken.command.command, 'tightloop.openConfig');
    assert.match(broken.tooltip, /2 problems/);
    assert.equal(statusPicture({ phase: { kind: 'no-config' }, services: [], autoRebuild: true, now: 0 }).command.command, 'tightloop.createConfig');
  });

  it('escapes markdown in service output so a detail cannot inject links', () => {
    const m = model('api');
    m.apply({ type: 'run-finished', summary: run('api', 0, [['compile', 10, 'ok', '[x](command:evil) | col']]) });
    const p = statusPicture({ phase: ready, services: m.all(), autoRebuild: true, now: 100 });
    assert.ok(!p.tooltip.includes('[x](command:evil)'));
    assert.ok(p.tooltip.includes('\\[x\\]\\(command:evil\\) \\| col'));
  });

  it('limits the picture to the configured services (unknown names ignored)', () => {
    const m = model('api', 'web');
    assert.deepEqual(statusBarServices(m.all(), ['web']).map((s) => s.name), ['web']);
    assert.deepEqual(statusBarServices(m.all(), ['nope']).map((s) => s.name), ['api', 'web']);
    assert.deepEqual(statusBarServices(m.all(), []).map((s) => s.name), ['api', 'web']);
  });

  it('encodes command link arguments as URI-encoded JSON', () => {
    assert.equal(link('Go', 'x.y', ['a b']), `[Go](command:x.y?${encodeURIComponent('["a b"]')} "Go")`);
  });
});
