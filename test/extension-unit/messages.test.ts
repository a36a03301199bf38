import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunModel } from '../../src/extension/model/run-model.js';
import { historyOf, servicesMessage } from '../../src/extension/panel/panel-feed.js';
import { parseFromWebview, parsePanelState, parseToWebview } from '../../src/shared/messages.js';
import { run } from './helpers.js';

describe('webview message contract', () => {
  it('accepts what the extension actually sends (services and history built from the model)', () => {
    const m = new RunModel();
    m.reset([
      { name: 'api', kind: 'service', manual: false },
      { name: 'migrate', kind: 'task', manual: true },
    ]);
    m.apply({ type: 'run-finished', summary: run('api', 0, [['trigger', 1, 'ok', 'save: a.c'], ['compile', 9, 'failed']], 'failed', { failedStage: 'compile', error: 'compile: boom', evidence: ['a', 'b'] }) });
    m.apply({ type: 'run-started', service: 'api', runId: 'r2', trigger: { reason: 'save', changedFiles: [] }, startedAt: 100 });
    m.apply({ type: 'stage-started', service: 'api', runId: 'r2', stage: 'compile', startedAt: 101 });
    const services = servicesMessage(m, { kind: 'ready' }, '/w/tightloop.yaml', 50, 200);
    const parsed = parseToWebview(JSON.parse(JSON.stringify(services)));
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
    assert.equal(services.services[0]!.live?.stage, 'compile');
    assert.equal(services.services[0]!.last?.trigger, 'save: a.c');
    assert.deepEqual(services.tasks, ['migrate']);
    const history = { type: 'history', histories: [historyOf(m.get('api')!, 50)] };
    assert.ok(parseToWebview(history).ok);
  });

  it('rejects unknown types, wrong fields and junk at both ends', () => {
    assert.equal(parseFromWebview({ type: 'rm -rf' }).ok, false);
    assert.equal(parseFromWebview({ type: 'showLog', service: 'api', runId: 'r', stage: 'bogus' }).ok, false);
    assert.equal(parseFromWebview({ type: 'rebuild', service: 42 }).ok, false);
    assert.equal(parseFromWebview(null).ok, false);
    assert.equal(parseToWebview({ type: 'services', now: 'soon' }).ok, false);
    const bad = parseToWebview({ type: 'log', service: 'a', runId: 'r', stage: 'compile', lines: [{ stream: 'x', text: '', time: 0 }], dropped: 0, available: true });
    assert.equal(bad.ok, false);
    assert.match(bad.error, /lines\.0\.stream/);
  });

  it('accepts every message the webview sends', () => {
    for (const message of [
      { type: 'ready' },
      { type: 'rebuild' },
      { type: 'rebuild', service: 'api' },
      { type: 'cancel', service: 'api' },
      { type: 'runTask', task: 'migrate' },
      { type: 'openConfig' },
      { type: 'createConfig' },
      { type: 'manageTrust' },
      { type: 'showLogs' },
      { type: 'showRun', service: 'api', runId: 'r' },
      { type: 'showLog', service: 'api', runId: 'r', stage: 'compile' },
      { type: 'cspViolation', directive: 'style-src', blocked: 'inline' },
    ]) {
      const parsed = parseFromWebview(message);
      assert.ok(parsed.ok, `${JSON.stringify(message)}: ${parsed.ok ? '' : parsed.error}`);
    }
  });

  it('restores panel state leniently', () => {
    assert.deepEqual(parsePanelState(undefined), { filter: '', toggled: [], historyOpen: [], pinnedRuns: {} });
    assert.deepEqual(parsePanelState({ filter: 7 }), { filter: '', toggled: [], historyOpen: [], pinnedRuns: {} });
    const state = parsePanelState({ filter: 'ap', toggled: ['api'], historyOpen: [], selection: { service: 'api', runId: 'r', stage: 'push' }, pinnedRuns: { api: 'r0' } });
    assert.equal(state.selection?.stage, 'push');
    assert.equal(state.pinnedRuns.api, 'r0');
    // Saved before the staging step was renamed: the selection and the filter both survive.
    const saved = parsePanelState({ filter: 'ap', toggled: [], historyOpen: [], selection: { service: 'api', runId: 'r', stage: 'stage' }, pinnedRuns: {} });
    assert.deepEqual([saved.filter, saved.selection?.stage], ['ap', 'staging']);
  });
});
