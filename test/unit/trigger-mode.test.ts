import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { EngineEvent } from '../../src/engine/types.js';
import { engineIn, until, workspace } from '../helpers/workspace.js';

const CONFIG = `version: 1
services:
  docs:
    trigger: manual
    watch: { paths: [docs] }
    compile: { command: "true" }
tasks:
  lint: { command: "true" }
`;

describe('trigger mode switched at run time (the view auto/manual action)', () => {
  it('manual → auto runs the pending changes at once; auto → manual collects them again', async () => {
    const dir = await workspace({ 'docs/a.md': '' });
    const { engine, events } = await engineIn(dir, CONFIG);
    await engine.startWatching();
    const file = path.join(dir, 'docs/a.md');
    await writeFile(file, 'one');
    await until(() => events.some((e) => e.type === 'changes-pending' && e.changedFiles.length === 1), 5000, 'changes pending');
    assert.equal(events.filter((e) => e.type === 'run-started').length, 0);

    engine.setTrigger('docs', 'auto');
    assert.ok(events.some((e) => e.type === 'trigger-changed' && e.service === 'docs' && e.trigger === 'auto'));
    const isStart = (e: EngineEvent): e is Extract<EngineEvent, { type: 'run-started' }> => e.type === 'run-started';
    await until(() => events.some(isStart), 5000, 'the pending run');
    const started = events.find(isStart)!;
    assert.deepEqual(started.trigger.changedFiles, [file]);
    await engine.whenIdle();
    assert.deepEqual(engine.status().find((s) => s.name === 'docs')?.pendingChanges, []);

    engine.setTrigger('docs', 'manual');
    const runs = events.filter((e) => e.type === 'run-started').length;
    await writeFile(file, 'two');
    await until(() => events.filter((e) => e.type === 'changes-pending').some((e) => e.changedFiles.length === 1 && events.indexOf(e) > events.indexOf(started)), 5000, 'pending again');
    await engine.whenIdle();
    assert.equal(events.filter((e) => e.type === 'run-started').length, runs, 'a manual service does not run by itself');
    // Same mode again: no event.
    const before = events.length;
    engine.setTrigger('docs', 'manual');
    assert.equal(events.filter((e) => e.type === 'trigger-changed').length, events.slice(0, before).filter((e) => e.type === 'trigger-changed').length);
    await engine.dispose();
  });

  it('refuses tasks and unknown names with a sentence', async () => {
    const dir = await workspace({ 'docs/a.md': '' });
    const { engine } = await engineIn(dir, CONFIG);
    assert.throws(() => engine.setTrigger('lint', 'auto'), /"lint" is a task/);
    assert.throws(() => engine.setTrigger('nope', 'auto'), /unknown service or task "nope"/);
    await engine.dispose();
  });
});
