import assert from 'node:assert/strict';
import { readFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { couldMatchBelow, hashContext, listCompat } from '../../src/engine/docker/context/build-context.js';
import type { Stage } from '../../src/engine/stages/stage.js';
import { engineIn, put, workspace } from '../helpers/workspace.js';

describe('context mode (issue 10)', () => {
  it('a change to a repo file the Dockerfile copies (not staged) is delivered, not skipped as unchanged', async () => {
    const dir = await workspace({ 'input.txt': 'bin', 'config/app.yaml': 'a: 1', 'Dockerfile': 'FROM scratch\nCOPY staged /\nCOPY config /config\n' });
    const builds: string[] = [];
    // Stands in for the image stage: its tag is keyed by the context, as the real one's is.
    const image: Stage = {
      name: 'image',
      async run(ctx) {
        const config = await readFile(path.join(ctx.config.root, 'config/app.yaml'), 'utf8');
        builds.push(config);
        return { outputs: { imageRef: `r/api:tl-${Buffer.from(config).toString('hex').slice(0, 12)}` } };
      },
    };
    const { engine } = await engineIn(dir, `version: 1
services:
  api:
    compile: { command: "mkdir -p out && cp input.txt out/bin" }
    stage: { dir: staged, files: [{ from: out/bin, to: bin }] }
    image: { repository: r/api, context: ., dockerfile: Dockerfile }
`, { image });
    assert.equal((await engine.run(['api']))[0]!.status, 'ok');
    await put(dir, 'config/app.yaml', 'a: 2');
    const [second] = await engine.run(['api']);
    assert.equal(second!.records.find((r) => r.stage === 'image')?.status, 'ok');
    assert.deepEqual(builds, ['a: 1', 'a: 2']);
    // Nothing changed: skipped by the content tag, and said so.
    const [third] = await engine.run(['api']);
    assert.match(third!.records.find((r) => r.stage === 'push')!.detail!, /^unchanged: image r\/api:tl-/);
  });

  it('.tightloop/ never enters a context listing', async () => {
    const dir = await workspace({ 'app.txt': 'x', '.tightloop/history.jsonl': '{}', '.tightloop/state/api.json': '{}' });
    const files = await listCompat(dir, AbortSignal.timeout(5000), path.join(dir, '.tightloop'));
    assert.deepEqual(files.entries.map((e) => e.path), ['app.txt']);
  });

  it('an ignored folder is walked only when a "!" rule could match below it', async () => {
    assert.equal(couldMatchBelow('target/debug', ['target/release/keep.txt']), false);
    assert.equal(couldMatchBelow('target/release', ['target/release/keep.txt']), true);
    assert.equal(couldMatchBelow('target', ['target/release/keep.txt']), true);
    assert.equal(couldMatchBelow('target/debug', ['target/*/keep.txt']), true);
    assert.equal(couldMatchBelow('target/debug', ['**/*.md']), true);
    assert.equal(couldMatchBelow('node_modules', ['target/release/keep.txt']), false);
    const dir = await workspace({ '.dockerignore': 'target\n!target/release/keep.txt\n', 'target/release/keep.txt': 'k', 'target/release/other': 'o', 'target/debug/x.o': 'o', 'src/main.rs': '' });
    const files = await listCompat(dir, AbortSignal.timeout(5000));
    assert.deepEqual(files.entries.filter((e) => e.type === 'file').map((e) => e.path).sort(), ['.dockerignore', 'src/main.rs', 'target/release/keep.txt']);
  });

  it('a file written within one clock tick of the listing is read again next time, not taken from the hash cache', async () => {
    // Two same-size writes within one kernel tick leave size, mtime and ctime as they were: the
    // second listing then carries the first one's signature. Reusing the listing is that case.
    const dir = await workspace({ 'config.txt': 'aaaa' });
    const files = await listCompat(dir, new AbortController().signal);
    const cache = new Map<string, { signature: string; sha256: string }>();
    const first = await hashContext(files, cache, new AbortController().signal);
    await put(dir, 'config.txt', 'bbbb');
    const second = await hashContext(files, cache, new AbortController().signal);
    assert.notEqual(second, first, 'the cache named the new bytes by the old hash');
  });

  it('an old file is hashed once and then taken from the cache', async () => {
    const dir = await workspace({ 'config.txt': 'aaaa' });
    const old = new Date(Date.now() - 60_000);
    await utimes(path.join(dir, 'config.txt'), old, old);
    const files = await listCompat(dir, new AbortController().signal);
    const entry = files.entries.find((e) => e.path === 'config.txt')!;
    // ctime cannot be set back; pretend the listing happened a minute later.
    files.listedAt = entry.changedAtMs! + 60_000;
    const cache = new Map<string, { signature: string; sha256: string }>();
    await hashContext(files, cache, new AbortController().signal);
    assert.equal(cache.get(entry.abs)?.signature, entry.signature);
  });
});
