import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import tar from 'tar-stream';
import { hashContext, listStaging } from '../../src/engine/docker/context/build-context.js';
import { copyLayer, measureLayer, openLayer, packLayer } from '../../src/engine/docker/assembly/layers.js';
import { ChangedWhileReadError } from '../../src/engine/docker/assembly/tar-entry.js';
import { put, workspace } from '../helpers/workspace.js';

/**
 * An image's layers are read from disk after its content tag was computed. A file that changes in
 * between must fail the image (its change triggers the next run), never end as an uncaught
 * exception that outlives the run, nor as a layer holding other bytes than its tag names.
 */
describe('reading layers from files that change (issue 10)', () => {
  const step = { sources: ['.'], dest: '/', destIsDir: true, uid: 0, gid: 0, createdBy: 'COPY . /' };

  async function layerOf(files: Record<string, string | Buffer>) {
    const dir = await workspace();
    for (const [name, content] of Object.entries(files)) await put(dir, name, content);
    const listing = await listStaging(dir, new AbortController().signal);
    await hashContext(listing, new Map(), new AbortController().signal);
    return { dir, recipe: copyLayer(step, listing.entries) };
  }

  it('COPY . / (the generated Dockerfile) puts every file of the context in the layer, the first one too', async () => {
    const { recipe } = await layerOf({ 'a.txt': 'a', 'b.txt': 'b', 'c/d.txt': 'd' });
    assert.deepEqual(
      recipe.entries.map((e) => e.name),
      ['a.txt', 'b.txt', 'c', 'c/d.txt'],
    );
  });

  it('a file that shrank after the listing fails the layer with a clear error (no uncaught "Size mismatch")', async () => {
    const { dir, recipe } = await layerOf({ 'a.txt': 'a longer text', 'b.txt': 'b' });
    await put(dir, 'a.txt', 'short');
    await assert.rejects(measureLayer(recipe, 'none', new AbortController().signal), /a\.txt changed while the image was made from it|Size mismatch/);
    // An uncaught exception would fail this file after the test; give it the time to surface.
    await new Promise((r) => setImmediate(r));
  });

  it('a same-size change after the tag was computed fails the layer instead of shipping other bytes under the tag', async () => {
    const { dir, recipe } = await layerOf({ 'a.txt': 'aaaa', 'b.txt': 'b' });
    await put(dir, 'a.txt', 'bbbb');
    await assert.rejects(measureLayer(recipe, 'gzip', new AbortController().signal), (error: unknown) => {
      assert.ok(error instanceof ChangedWhileReadError, String(error));
      assert.equal(error.file, path.join(dir, 'a.txt'));
      return true;
    });
  });

  it('a file that grew fails too', async () => {
    const { dir, recipe } = await layerOf({ 'a.txt': 'aaaa', 'b.txt': 'b' });
    await put(dir, 'a.txt', 'a'.repeat(200_000));
    await assert.rejects(measureLayer(recipe, 'none', new AbortController().signal), /a\.txt changed while the image was made from it|Size mismatch/);
    await new Promise((r) => setImmediate(r));
  });

  // Files above 1 MiB are read in chunks, hashed in the same read that feeds the tar.
  const big = (fill: number, bytes = 3 * 1024 * 1024 + 17) => Buffer.alloc(bytes, fill);

  it('a large file changed in its middle (same size) fails the layer before the tar ends', async () => {
    const { dir, recipe } = await layerOf({ 'big.bin': big(1), 'b.txt': 'b' });
    const changed = big(1);
    changed[2 * 1024 * 1024 + 5] = 2;
    await writeFile(path.join(dir, 'big.bin'), changed);
    await assert.rejects(measureLayer(recipe, 'none', new AbortController().signal), (error: unknown) => {
      assert.ok(error instanceof ChangedWhileReadError, String(error));
      assert.equal(error.file, path.join(dir, 'big.bin'));
      return true;
    });
  });

  it('a large file that grew or shrank fails the layer', async () => {
    for (const [label, content] of [['grew', Buffer.concat([big(1), Buffer.from('x')])], ['shrank', big(1, 2 * 1024 * 1024)]] as const) {
      const { dir, recipe } = await layerOf({ 'big.bin': big(1) });
      await writeFile(path.join(dir, 'big.bin'), content);
      await assert.rejects(measureLayer(recipe, 'gzip', new AbortController().signal), ChangedWhileReadError, label);
    }
    await new Promise((r) => setImmediate(r));
  });

  it('the tar holds every file byte for byte (small and chunked), and the upload pass makes the same bytes the digest names', async () => {
    const random = Buffer.from(Array.from({ length: 2_500_000 }, (_, i) => (i * 7919) % 251));
    const { recipe } = await layerOf({ 'big.bin': random, 'c/small.txt': 'small', 'c/empty': '' });
    const layer = await measureLayer(recipe, 'none', new AbortController().signal);
    const chunks: Buffer[] = [];
    for await (const chunk of openLayer(layer, new AbortController().signal)) chunks.push(chunk as Buffer);
    const tarBytes = Buffer.concat(chunks);
    assert.equal(`sha256:${createHash('sha256').update(tarBytes).digest('hex')}`, layer.digest);
    assert.equal(tarBytes.length, layer.size);
    const extract = tar.extract();
    const seen: Record<string, Buffer> = {};
    extract.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => parts.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') seen[header.name] = Buffer.concat(parts);
        next();
      });
    });
    await new Promise<void>((resolve, reject) => {
      extract.on('finish', resolve);
      extract.on('error', reject);
      extract.end(tarBytes);
    });
    assert.deepEqual(Object.keys(seen).sort(), ['big.bin', 'c/empty', 'c/small.txt']);
    assert.ok(seen['big.bin']!.equals(random));
    assert.equal(seen['c/small.txt']!.toString(), 'small');
    assert.equal(seen['c/empty']!.length, 0);
  });

  it('a cancelled layer stops reading its large file at once', async () => {
    const { recipe } = await layerOf({ 'big.bin': big(3, 64 * 1024 * 1024) });
    const abort = new AbortController();
    const tarStream = packLayer(recipe, abort.signal);
    let read = 0;
    await assert.rejects(
      (async () => {
        for await (const chunk of tarStream) {
          read += (chunk as Buffer).length;
          if (read > 2 * 1024 * 1024) abort.abort(new Error('cancelled by the test'));
        }
      })(),
      /cancelled by the test|destroyed|aborted/,
    );
    assert.ok(read < 16 * 1024 * 1024, `read ${read} bytes after the cancel`);
  });
});
