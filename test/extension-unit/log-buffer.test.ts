import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOG_LINE_CHARS, LOG_LINES_PER_STAGE, LOG_RUNS_PER_SERVICE, LogBuffer } from '../../src/extension/model/log-buffer.js';
import type { LogLine } from '../../src/engine/types.js';

const line = (runId: string, text: string): LogLine => ({ service: 'api', runId, stage: 'compile', stream: 'stdout', text, time: 0 });

/** The panel's in-memory logs are bounded three ways: runs per service, lines per stage, characters per line. */
describe('LogBuffer caps', () => {
  it(`keeps the newest ${LOG_LINES_PER_STAGE} lines of a stage and counts the dropped ones`, () => {
    const logs = new LogBuffer();
    for (let i = 0; i < LOG_LINES_PER_STAGE + 700; i++) logs.add(line('r1', `line ${i}`));
    const { lines, dropped } = logs.get('api', 'r1', 'compile');
    assert.equal(lines.length, LOG_LINES_PER_STAGE);
    assert.equal(dropped, 700);
    assert.equal(lines.at(-1)!.text, `line ${LOG_LINES_PER_STAGE + 699}`);
  });

  it(`keeps the logs of the last ${LOG_RUNS_PER_SERVICE} runs per service`, () => {
    const logs = new LogBuffer();
    for (let r = 0; r < LOG_RUNS_PER_SERVICE + 4; r++) logs.add(line(`r${r}`, 'x'));
    assert.equal(logs.get('api', 'r0', 'compile').available, false);
    assert.equal(logs.get('api', `r${LOG_RUNS_PER_SERVICE + 3}`, 'compile').available, true);
    const kept = Array.from({ length: LOG_RUNS_PER_SERVICE + 4 }, (_, r) => logs.get('api', `r${r}`, 'compile').available).filter(Boolean);
    assert.equal(kept.length, LOG_RUNS_PER_SERVICE);
  });

  it(`cuts a line longer than ${LOG_LINE_CHARS} characters and says how much was cut`, () => {
    const logs = new LogBuffer();
    logs.add(line('r1', 'y'.repeat(LOG_LINE_CHARS * 10)));
    const text = logs.get('api', 'r1', 'compile').lines[0]!.text;
    assert.ok(text.length < LOG_LINE_CHARS + 100, `kept ${text.length} characters`);
    assert.match(text, new RegExp(`… \\(${LOG_LINE_CHARS * 9} more characters\\)$`));
  });
});
