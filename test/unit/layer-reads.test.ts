import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { hashContext, listStaging } from '../../src/engine/docker/context/build-context.js';
import { copyLayer, measureLayer } from '../../src/engine/docker/assembly/layers.js';
import { ChangedWhileReadError } from '../../src/engine/docker/assembly/tar-entry.js';
import { put, workspace } from '../helpers/workspace.js';

/**
 * An image's layers are read from disk after its content tag was computed. A file that changes in
 * between must fail the image (its change triggers the next run), never end as an uncaught
 * exception that outlives the run, nor as a layer holding other bytes than its tag names.
 */
describe('reading layers from files that change (issue 10)', () => {
  const step = { sources: ['.'], dest: '/', destIsDir: true, uid: 0, gid: 0, createdBy: 'COPY . /' };

  async function layerOf(files: Record<string, string>) {
    const dir = await workspace(files);
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
});
