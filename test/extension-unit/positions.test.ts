import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/index.js';
import { compilerSpan, configIssueSpan, groupByFile, offsetToPosition } from '../../src/extension/model/positions.js';

describe('problem positions', () => {
  it('converts offsets to 0-based line/column', () => {
    const text = 'ab\ncd\r\nef';
    assert.deepEqual(offsetToPosition(text, 0), { line: 0, column: 0 });
    assert.deepEqual(offsetToPosition(text, 4), { line: 1, column: 1 });
    assert.deepEqual(offsetToPosition(text, 8), { line: 2, column: 1 });
    assert.deepEqual(offsetToPosition(text, 999), { line: 2, column: 2 });
  });

  it('puts a config error exactly on the offending value, from the real parser', () => {
    const text = ['version: 1', 'services:', '  api:', '    compile:', '      command: make', '      timeout: soon', ''].join('\n');
    const { issues } = parseConfigText(text, '/w/tightloop.yaml');
    const timeout = issues.find((i) => i.path === 'services.api.compile.timeout');
    assert.ok(timeout, JSON.stringify(issues));
    assert.deepEqual(configIssueSpan(timeout, text), { startLine: 5, startColumn: 15, endLine: 5, endColumn: 19 });
  });

  it('puts an unknown key on the key itself', () => {
    const text = ['version: 1', 'services:', '  api:', '    compil:', '      command: make', ''].join('\n');
    const { issues } = parseConfigText(text, '/w/tightloop.yaml');
    const unknown = issues.find((i) => /unknown field "compil"/.test(i.message));
    assert.ok(unknown, JSON.stringify(issues));
    assert.match(unknown.message, /did you mean "compile"/);
    assert.deepEqual(configIssueSpan(unknown, text), { startLine: 3, startColumn: 4, endLine: 3, endColumn: 10 });
  });

  it('cuts a multi-line node to its first line, and handles line-only and file-level issues', () => {
    const text = 'a:\n  b: 1\n  c: 2\n';
    assert.deepEqual(configIssueSpan({ file: 'f', line: 1, column: 1, path: 'a', message: 'm', range: [5, 17] }, text), { startLine: 1, startColumn: 2, endLine: 1, endColumn: 6 });
    assert.deepEqual(configIssueSpan({ file: 'f', line: 2, column: 3, path: '', message: 'm' }, text), { startLine: 1, startColumn: 2, endLine: 1, endColumn: 6 });
    assert.deepEqual(configIssueSpan({ file: 'f', line: 0, column: 0, path: '', message: 'missing' }, text), { startLine: 0, startColumn: 0, endLine: 0, endColumn: 2 });
  });

  it('places compiler diagnostics at their 1-based position and dedupes shared headers', () => {
    assert.deepEqual(compilerSpan({ file: '/a.c', line: 3, column: 5, severity: 'error', message: 'x' }), { startLine: 2, startColumn: 4, endLine: 2, endColumn: 4 });
    const d = { file: '/w/shared.h', line: 1, column: 1, severity: 'error' as const, message: 'bad' };
    const grouped = groupByFile([
      ['api', [d, { ...d, file: '/w/api.c' }]],
      ['web', [d]],
    ]);
    assert.deepEqual([...grouped.keys()], ['/w/shared.h', '/w/api.c']);
    assert.equal(grouped.get('/w/shared.h')!.length, 1);
  });
});
