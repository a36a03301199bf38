import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { workspace } from '../helpers/workspace.js';

const BIN = path.resolve('src/cli/bin.ts');
const TSX = import.meta.resolve('tsx');

/** Runs `tightloop watch` until its output matches `done`, then stops it with Ctrl-C. */
async function watchUntil(cwd: string, done: RegExp): Promise<string> {
  const child = spawn(process.execPath, ['--import', TSX, BIN, 'watch'], { cwd, env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const check = () => done.test(out) && resolve();
    child.stdout.on('data', check);
    child.once('exit', () => (done.test(out) ? resolve() : reject(new Error(`watch exited early:\n${out}`))));
  });
  child.kill('SIGINT');
  await exited;
  return out;
}

describe('watch mode output', () => {
  it('prints a failing compile\'s output once; the failure summary points at it', async () => {
    const dir = await workspace({
      'src/x.c': '',
      'tightloop.yaml': `version: 1
services:
  api:
    watch: { paths: [src] }
    compile: { command: "echo 'src/x.c:3:1: error: tl-unique-17' >&2; echo second-line-17; exit 4", problemMatcher: gcc }
`,
    });
    const out = await watchUntil(dir, /✗ api failed[\s\S]*compile: 1 compile error/);
    assert.equal(out.match(/error: tl-unique-17/g)?.length, 1, out);
    assert.equal(out.match(/second-line-17/g)?.length, 1, out);
    assert.match(out, /↑ compile output above \(the "api compile │" lines\)/);
  });
});
