import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConfigIssue, EngineEvent } from '../../src/engine/index.js';
import { EngineSession } from '../../src/extension/engine-session.js';
import { RunModel } from '../../src/extension/model/run-model.js';
import type { Phase } from '../../src/extension/model/status-model.js';

const VALID = ['version: 1', 'services:', '  api:', '    watch: { paths: [src] }', '    compile: { command: "echo built" }', 'tasks:', '  seed: { command: "true" }', ''].join('\n');

describe('engine session', () => {
  let dir: string;
  let file: string;
  const phases: Phase['kind'][] = [];
  const issues: ConfigIssue[][] = [];
  const events: EngineEvent[] = [];
  const logs: string[] = [];
  const model = new RunModel(50);
  let stagesCalls = 0;
  let session: EngineSession;
  const options = { watch: false, historyLength: 50 };

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tl-session-'));
    mkdirSync(path.join(dir, 'src'));
    file = path.join(dir, 'tightloop.yaml');
    session = new EngineSession({
      model,
      stages: () => {
        stagesCalls++;
        if (stagesCalls === 2) throw new Error('dockerode missing');
        return {};
      },
      onEvent: (e) => {
        events.push(e);
        model.apply(e);
      },
      onPhase: (p) => phases.push(p.kind),
      onConfigIssues: (_f, list) => issues.push(list),
      log: (m) => logs.push(m),
    });
  });

  after(async () => {
    await session.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads a valid config: services and tasks in the model, phase ready, problems cleared', async () => {
    writeFileSync(file, VALID);
    await session.load(file, options);
    assert.deepEqual(phases, ['loading', 'ready']);
    assert.deepEqual(model.all().map((e) => `${e.kind}:${e.name}`), ['service:api', 'task:seed']);
    assert.deepEqual(issues.at(-1), []);
    assert.ok(session.engine);
  });

  it('runs through the engine and reports events to the model', async () => {
    const [summary] = await session.engine!.run(['api']);
    assert.equal(summary!.status, 'ok');
    assert.equal(model.get('api')!.last?.runId, summary!.runId);
    assert.ok(events.some((e) => e.type === 'log' && e.line.text === 'built'));
    assert.equal(model.logs.get('api', summary!.runId, 'compile').lines[0]?.text, 'built');
  });

  it('does not reload when the text is unchanged', async () => {
    const engine = session.engine;
    await session.load(file, options);
    assert.equal(session.engine, engine);
  });

  it('reloads with history preserved, and survives a failing integration loader', async () => {
    writeFileSync(file, VALID.replace('echo built', 'echo rebuilt'));
    await session.load(file, options);
    assert.equal(model.get('api')!.history.length, 1, 'history comes back from .tightloop/history.jsonl');
    assert.ok(logs.some((l) => /integration not loaded: dockerode missing/.test(l)));
    assert.equal(session.phase.kind, 'ready');
  });

  it('turns a broken config into a config-error phase with positioned issues and no engine', async () => {
    writeFileSync(file, VALID.replace('version: 1', 'version: 2'));
    await session.load(file, options);
    assert.equal(session.phase.kind, 'config-error');
    assert.equal(session.engine, undefined);
    assert.equal(issues.at(-1)![0]!.line, 1);
    assert.equal(model.all().length, 0);
  });

  it('serialises loads: the last of a burst wins', async () => {
    writeFileSync(file, VALID);
    const a = session.load(file, options, true);
    const b = session.unload({ kind: 'no-config' });
    const c = session.load(file, options, true);
    await Promise.all([a, b, c]);
    assert.equal(session.phase.kind, 'ready');
    assert.ok(session.engine);
  });
});
