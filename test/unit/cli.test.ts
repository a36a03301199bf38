import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { put, workspace } from '../helpers/workspace.js';

const BIN = path.resolve('src/cli/bin.ts');
/** Resolved here: the child runs in a temp folder where `tsx` is not resolvable by name. */
const TSX = import.meta.resolve('tsx');

/** Runs the real CLI in a child process (through tsx, as the bundle would run). */
function cli(args: string[], cwd: string) {
  const result = spawnSync(process.execPath, ['--import', TSX, BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const GOOD = `version: 1
services:
  api:
    compile: { command: "mkdir -p out && echo built > out/api" }
    stage: { dir: staged, files: [{ from: out/api, to: api }] }
tasks:
  check: { command: "test -f staged/api", dependsOn: [api] }
`;

describe('tightloop CLI', () => {
  it('run: exit 0, a timing table per run', async () => {
    const dir = await workspace({ 'tightloop.yaml': GOOD });
    const { code, stdout } = cli(['run', 'check'], dir);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /✓ api ok in /);
    assert.match(stdout, /  compile  ✓ ok /);
    assert.match(stdout, /  staging  ✓ ok .*1 file\(s\)/);
    assert.match(stdout, /  image    – skipped .*no image configured/);
    assert.match(stdout, /✓ check ok in /);
  });

  it('run: exit 1 and the cause with evidence when a stage fails', async () => {
    const dir = await workspace({ 'tightloop.yaml': GOOD.replace('echo built > out/api', 'echo src/x.c:3:1: error: nope >&2; exit 4') });
    const { code, stdout } = cli(['run', 'api'], dir);
    assert.equal(code, 1);
    assert.match(stdout, /✗ api failed/);
    assert.match(stdout, /compile: ".*" exited with code 4/);
    assert.match(stdout, /│ src\/x\.c:3:1: error: nope/);
  });

  it('config errors: exit 2, file:line:col: field: message, no stack trace', async () => {
    const dir = await workspace();
    await put(dir, 'tightloop.yaml', 'version: 1\nservices:\n  api:\n    compile: { comand: make }\n');
    const { code, stderr, stdout } = cli(['run'], dir);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, new RegExp(`^${path.join(dir, 'tightloop.yaml')}:4:16: services\\.api\\.compile\\.comand: unknown field "comand" \\(did you mean "command"\\?\\)`, 'm'));
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  });

  it('usage errors: unknown command, unknown service, no config', async () => {
    const dir = await workspace({ 'tightloop.yaml': GOOD });
    assert.equal(cli(['explode'], dir).code, 2);
    const unknown = cli(['run', 'ghost'], dir);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown service or task "ghost" \(known: api, check\)/);
    const empty = await workspace();
    const none = cli(['run'], empty);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no tightloop\.yaml in .* or any parent folder/);
  });

  it('--json prints one parseable event per line', async () => {
    const dir = await workspace({ 'tightloop.yaml': GOOD });
    const { code, stdout } = cli(['run', 'api', '--json'], dir);
    assert.equal(code, 0);
    const events = stdout.trim().split('\n').map((line) => JSON.parse(line));
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'run-queued');
    assert.ok(types.includes('stage-finished'));
    assert.equal(types.at(-1), 'run-finished');
  });

  it('--json says why a queued run waits (hold reasons)', async () => {
    const dir = await workspace({ 'tightloop.yaml': GOOD });
    const { code, stdout } = cli(['run', 'check', '--json'], dir);
    assert.equal(code, 0, stdout);
    const waiting = stdout.trim().split('\n').map((line) => JSON.parse(line)).filter((e) => e.type === 'run-waiting');
    assert.deepEqual(waiting, [{ type: 'run-waiting', service: 'check', reason: { kind: 'dependency', on: ['api'], message: 'waiting for dependency "api"' } }]);
  });

  it('history and doctor', async () => {
    const dir = await workspace({ 'tightloop.yaml': GOOD });
    cli(['run', 'api'], dir);
    cli(['run', 'api'], dir);
    const history = cli(['history', 'api'], dir);
    assert.equal(history.code, 0);
    assert.match(history.stdout, /api: 2 run\(s\)/);
    assert.match(history.stdout, /compile +2 +\d+ ms +\d+ ms/);
    const doctor = cli(['doctor'], dir);
    assert.equal(doctor.code, 0, doctor.stdout);
    assert.match(doctor.stdout, /✓ tools +api: mkdir found/);
    await put(dir, 'tightloop.yaml', GOOD.replace('mkdir -p out', 'no-such-compiler-xyz'));
    const broken = cli(['doctor'], dir);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /✗ tools +api: no-such-compiler-xyz not found on PATH/);
  });
});
