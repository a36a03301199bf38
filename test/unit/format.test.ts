import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDockerfile, unquote } from '../../src/engine/docker/context/dockerfile.js';
import { formatBytes, formatDuration, formatElapsed } from '../../src/shared/format.js';

describe('formatDuration: one formatter for the CLI, stage details, diagnosis and the webview', () => {
  it('rounds to the shown precision before choosing the unit (119.6 s is "2m 00s", never "1m60s")', () => {
    assert.equal(formatDuration(119_600), '2m 00s');
    assert.equal(formatDuration(119_400), '1m 59s');
    assert.equal(formatDuration(59_960), '1m 00s');
    assert.equal(formatDuration(59_940), '59.9 s');
    assert.equal(formatDuration(9_996), '10.0 s');
    assert.equal(formatDuration(9_994), '9.99 s');
    assert.equal(formatDuration(999.6), '1.00 s');
    assert.equal(formatDuration(999.4), '999 ms');
    assert.equal(formatDuration(3_599_600), '1h 00m');
    assert.equal(formatDuration(3_599_400), '59m 59s');
  });

  it('keeps the established forms at ordinary values', () => {
    assert.deepEqual(
      [0, 12.4, 800, 1840, 12_345, 65_000, 30 * 60_000, 2 * 3_600_000 + 3 * 60_000].map(formatDuration),
      ['0 ms', '12 ms', '800 ms', '1.84 s', '12.3 s', '1m 05s', '30m 00s', '2h 03m'],
    );
  });

  it('shows a dash, not "NaN s" or "-3 ms", for a value that is not a duration', () => {
    assert.deepEqual([NaN, -3, Infinity].map(formatDuration), ['–', '–', '–']);
  });

  it('the ticking form keeps one decimal under a minute and never shows "60.0s"', () => {
    assert.deepEqual([0, 3_240, 59_940, 59_960, 119_600, -5].map(formatElapsed), ['0.0s', '3.2s', '59.9s', '1m 00s', '2m 00s', '0.0s']);
  });
});

describe('formatBytes', () => {
  it('uses binary units and rounds before choosing one (never "1024.0 KiB")', () => {
    assert.deepEqual(
      [0, 512, 1023, 1024, 1536, 1024 * 1024 - 1, 1024 * 1024, 3 * 1024 ** 2, 1024 ** 3 - 1, 1.25 * 1024 ** 3].map(formatBytes),
      ['0 B', '512 B', '1023 B', '1.0 KiB', '1.5 KiB', '1.0 MiB', '1.0 MiB', '3.0 MiB', '1.00 GiB', '1.25 GiB'],
    );
    assert.deepEqual([NaN, -1].map(formatBytes), ['–', '–']);
  });
});

describe('unquote: a Dockerfile word as the builder reads it', () => {
  it('removes double and single quotes (also mid-word) and escapes', () => {
    assert.deepEqual(
      ['plain', '"a b"', "'a b'", 'a"b c"', '"x\\"y"', "'x\\y'", 'a\\ b', '""'].map(unquote),
      ['plain', 'a b', 'a b', 'ab c', 'x"y', 'x\\y', 'a b', ''],
    );
  });

  it('applies to a global ARG default that a FROM expands', () => {
    const parsed = parseDockerfile('ARG BASE="registry.local/app:1"\nFROM $BASE\n');
    assert.equal(parsed.stages[0]!.base, 'registry.local/app:1');
  });
});
