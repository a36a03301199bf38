import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/config/load.js';
import { RecentEdits } from '../../src/extension/model/recent-edits.js';

describe('recent edits of the config (for naming the entry that closed a cycle)', () => {
  it('keeps the latest edited lines first and moves them with lines inserted above', () => {
    const edits = new RecentEdits();
    edits.note('a', [{ startLine: 7, endLine: 7, text: 'x' }]);
    edits.note('a', [{ startLine: 3, endLine: 3, text: 'y' }]);
    assert.deepEqual(edits.lines('a'), [4, 8]);
    // Two lines pasted at line 1: both remembered lines move down by two.
    edits.note('a', [{ startLine: 0, endLine: 0, text: 'p\nq\n' }]);
    assert.deepEqual(edits.lines('a'), [1, 2, 3, 6, 10]);
    assert.deepEqual(edits.lines('b'), []);
  });

  it('orders the cycle message by the edit the user just made', () => {
    const text = 'version: 1\nservices:\n  api:\n    dependsOn: [web]\n  web:\n    dependsOn: [api]\n';
    const edits = new RecentEdits();
    // The user typed `web` into api's dependsOn (0-based line 3) last.
    edits.note('cfg', [{ startLine: 5, endLine: 5, text: 'api' }]);
    edits.note('cfg', [{ startLine: 3, endLine: 3, text: 'web' }]);
    const { issues } = parseConfigText(text, path.resolve('tightloop.yaml'), {}, { recentEdits: edits.lines('cfg') });
    const closing = issues.find((i) => i.message.endsWith('(this entry closes it)'));
    assert.equal(closing?.path, 'services.api.dependsOn.0');
  });
});
