import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { MAX_DIAGNOSTICS, ProblemMatcher } from '../../src/engine/compile/problem-matchers.js';
import { SEEN_FILES_MAX } from '../../src/engine/engine.js';
import { HISTORY_SLACK, History } from '../../src/engine/history/history.js';
import { MAX_CHANGED_FILES } from '../../src/engine/scheduler/scheduler.js';
import type { RunSummary } from '../../src/engine/types.js';
import { engineIn, until, workspace } from '../helpers/workspace.js';

/**
 * Bounded memory by construction: every per-run or per-file collection of the engine has a named
 * cap, and each test here fills one past it (a day-long session must not grow the host).
 */
describe('bounded collections (engine)', () => {
  it(`diagnostics: a compiler printing ${MAX_DIAGNOSTICS + 500} errors yields ${MAX_DIAGNOSTICS}`, () => {
    const matcher = new ProblemMatcher('gcc', '/work');
    for (let i = 0; i < MAX_DIAGNOSTICS + 500; i++) matcher.feed(`src/main.c:${i + 1}:1: error: expected ';'`);
    assert.equal(matcher.diagnostics.length, MAX_DIAGNOSTICS);
    assert.equal(matcher.diagnostics[0]!.line, 1, 'the first errors are the ones kept');
  });

  it(`changed files of one trigger: ${MAX_CHANGED_FILES + 500} saved files are remembered as ${MAX_CHANGED_FILES}`, async () => {
    const dir = await workspace({ 'src/main.c': 'int main;' });
    const { engine, events } = await engineIn(
      dir,
      `version: 1
services:
  api:
    trigger: manual
    watch: { paths: [src] }
    compile: { command: "true" }
`,
    );
    engine.notifySaved(Array.from({ length: MAX_CHANGED_FILES + 500 }, (_, i) => path.join(dir, 'src', `f${i}.c`)));
    await until(() => events.some((e) => e.type === 'changes-pending'), 10_000, 'changes-pending');
    const pending = events.find((e) => e.type === 'changes-pending');
    assert.equal(pending?.type === 'changes-pending' && pending.changedFiles.length, MAX_CHANGED_FILES);
    assert.equal(engine.retained.pendingFiles, MAX_CHANGED_FILES);
  });

  it(`changed files merged into one follow-up run stay at ${MAX_CHANGED_FILES}`, async () => {
    const dir = await workspace({ 'src/main.c': 'int main;' });
    const { engine, events } = await engineIn(
      dir,
      `version: 1
services:
  api:
    onChange: queue
    watch: { paths: [src] }
    compile: { command: "until [ -f go ]; do sleep 0.05; done" }
`,
    );
    const first = engine.run(['api']);
    await until(() => events.some((e) => e.type === 'stage-started' && e.stage === 'compile'), 5000, 'compile start');
    for (let batch = 0; batch < 3; batch++) {
      engine.notifySaved(Array.from({ length: 600 }, (_, i) => path.join(dir, 'src', `b${batch}-${i}.c`)));
      await until(() => events.filter((e) => e.type === 'run-queued').length > batch + 1, 10_000, `batch ${batch} queued`);
    }
    await writeFile(path.join(dir, 'go'), ''); // the first compile ends only now: all three batches merged
    await first;
    await engine.whenIdle();
    const runs = events.flatMap((e) => (e.type === 'run-finished' ? [e.summary] : []));
    assert.equal(runs.length, 2, JSON.stringify(runs.map((r) => [r.status, r.trigger.reason, r.trigger.changedFiles.length, r.error])));
    assert.equal(runs[1]!.trigger.changedFiles.length, MAX_CHANGED_FILES);
  });

  it(`echo suppression remembers at most ${SEEN_FILES_MAX} files`, async () => {
    const dir = await workspace({ 'src/main.c': 'int main;' });
    const { engine, events } = await engineIn(
      dir,
      `version: 1
services:
  api:
    trigger: manual
    watch: { paths: [src] }
    compile: { command: "true" }
`,
    );
    // Every file is api's: its changes-pending event says the whole batch was looked at.
    const files = Array.from({ length: SEEN_FILES_MAX + 50 }, (_, i) => path.join(dir, 'src', `f${i}`));
    engine.notifySaved([...files, path.join(dir, 'src', 'main.c')]);
    await until(() => events.some((e) => e.type === 'changes-pending'), 30_000, 'changes-pending');
    assert.equal(engine.retained.seenFiles, SEEN_FILES_MAX);
  });

  it(`history in memory holds at most limit × ${HISTORY_SLACK} runs`, async () => {
    const dir = await workspace();
    const limit = 20;
    const history = new History(dir, limit);
    for (let i = 0; i < limit * 5; i++) {
      await history.append(summary(i));
      assert.ok((await history.load()).length <= limit * HISTORY_SLACK, `after ${i + 1} appends: ${(await history.load()).length}`);
    }
  });
});

function summary(i: number): RunSummary {
  return { service: 'api', runId: `r${i}`, status: 'ok', startedAt: i, durationMs: 1, trigger: { reason: 'manual', changedFiles: [] }, records: [] };
}
