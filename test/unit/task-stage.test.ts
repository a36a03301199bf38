import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { History } from '../../src/engine/history/history.js';
import { stageStats } from '../../src/engine/history/stats.js';
import type { EngineEvent, RunSummary } from '../../src/engine/types.js';
import { engineIn, put, workspace } from '../helpers/workspace.js';

const YAML = `version: 1
services:
  api:
    compile: { command: "echo compiling" }
tasks:
  smoke: { command: "echo smoke-output", dependsOn: [api] }
`;

describe('tasks have their own stage name', () => {
  it('engine events, logs and history say `task`, not `compile`', async () => {
    const dir = await workspace();
    const { engine, events } = await engineIn(dir, YAML);
    const [summary] = await engine.run(['smoke']);
    assert.equal(summary!.status, 'ok');
    const ofSmoke = (e: EngineEvent) => ('service' in e && e.service === 'smoke') || (e.type === 'log' && e.line.service === 'smoke') || (e.type === 'stage-finished' && e.record.service === 'smoke');
    const stages = events.filter(ofSmoke).flatMap((e) => (e.type === 'stage-started' ? [e.stage] : e.type === 'log' ? [e.line.stage] : e.type === 'stage-finished' ? [e.record.stage] : []));
    assert.deepEqual([...new Set(stages)].sort(), ['task', 'trigger']);
    assert.deepEqual(summary!.records.map((r) => r.stage), ['trigger', 'task']);
    const [recorded] = await engine.recentRuns('smoke');
    assert.deepEqual(recorded!.records.map((r) => r.stage), ['trigger', 'task']);
    assert.deepEqual((await engine.stageStats('smoke')).map((s) => s.stage), ['trigger', 'task']);
  });

  it('history written before reads a task\'s old `compile` records as `task`; a service\'s stay compile', async () => {
    const dir = await workspace();
    const old = (service: string, status: 'ok' | 'failed'): RunSummary => ({
      service,
      runId: `${service}-1`,
      status,
      startedAt: 1,
      durationMs: 20,
      trigger: { reason: 'manual', changedFiles: [] },
      records: [
        { service, runId: `${service}-1`, stage: 'trigger', startedAt: 1, durationMs: 0, status: 'ok' },
        { service, runId: `${service}-1`, stage: 'compile', startedAt: 1, durationMs: 20, status },
      ],
      ...(status === 'failed' && { failedStage: 'compile' as const, error: 'compile: "x" exited with code 1' }),
    });
    await put(dir, '.tightloop/history.jsonl', [old('smoke', 'failed'), old('api', 'ok')].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const history = new History(dir, 100, () => {}, (name) => name === 'smoke');
    const [smoke] = await history.recent('smoke');
    assert.deepEqual(smoke!.records.map((r) => r.stage), ['trigger', 'task']);
    assert.equal(smoke!.failedStage, 'task');
    assert.equal(smoke!.error, 'task: "x" exited with code 1');
    const [api] = await history.recent('api');
    assert.deepEqual(api!.records.map((r) => r.stage), ['trigger', 'compile']);
    assert.deepEqual(stageStats([smoke!]).map((s) => s.stage), ['trigger', 'task']);
  });

  it('the CLI labels a task\'s row and its --json events `task`', async () => {
    const dir = await workspace({ 'tightloop.yaml': YAML });
    const cli = (args: string[]) =>
      spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), path.resolve('src/cli/bin.ts'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
    const text = cli(['run', 'smoke']);
    assert.equal(text.status, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /✓ smoke ok in [^\n]*\n  trigger [^\n]*\n  task     ✓ ok /);
    const json = cli(['run', 'smoke', '--json']);
    const started = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as EngineEvent).filter((e) => e.type === 'stage-started' && e.service === 'smoke');
    assert.deepEqual(started.map((e) => e.type === 'stage-started' && e.stage), ['task']);
  });
});
