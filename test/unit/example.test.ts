import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { workspace } from '../helpers/workspace.js';

describe('examples/hello-service', () => {
  it('compiles for real with gcc -static and stages a static binary that runs', async () => {
    const dir = await workspace();
    await cp(path.resolve('examples/hello-service'), dir, { recursive: true, filter: (src) => !/build|\.tightloop/.test(path.basename(src)) });
    const engine = await Engine.create(path.join(dir, 'tightloop.yaml'));
    try {
      const [run] = await engine.run(['hello']);
      assert.equal(run!.status, 'ok', run!.error);
      const byStage = Object.fromEntries(run!.records.map((r) => [r.stage, r]));
      assert.equal(byStage.compile?.status, 'ok');
      assert.equal(byStage.staging?.status, 'ok');
      assert.match(byStage.staging!.detail!, /^1 file\(s\), /);
      const binary = path.join(dir, 'build_artifacts/hello');
      // ELF, and statically linked: no PT_INTERP program header means no dynamic loader needed.
      const bytes = await readFile(binary);
      assert.equal(bytes.subarray(0, 4).toString('latin1'), '\x7fELF');
      assert.ok(!bytes.includes(Buffer.from('/lib64/ld-linux-x86-64.so.2')), 'binary must be static for FROM scratch');
      assert.equal(execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim(), 'hello from tightloop');
      const [task] = await engine.run(['version-check']);
      assert.equal(task!.status, 'ok');
    } finally {
      await engine.dispose();
    }
  });
});
