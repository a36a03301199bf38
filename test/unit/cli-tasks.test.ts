import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { workspace } from '../helpers/workspace.js';

const BIN = path.resolve('src/cli/bin.ts');
const TSX = import.meta.resolve('tsx');

function cli(args: string[], cwd: string) {
  const result = spawnSync(process.execPath, ['--import', TSX, BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const YAML = `version: 1
services:
  api:
    compile: { command: "true" }
tasks:
  smoke: { command: "echo hi", dependsOn: [api] }
  lint: { command: "exit 3" }
`;

describe('tasks from the CLI', () => {
  it('--help lists the config\'s tasks as runnable targets', async () => {
    const dir = await workspace({ 'tightloop.yaml': YAML });
    const { code, stdout } = cli(['--help'], dir);
    assert.equal(code, 0);
    assert.match(stdout, /tightloop run \[target…\]/);
    assert.match(stdout, /tightloop tasks +list the tasks/);
    assert.match(stdout, /Targets in .*tightloop\.yaml.*\n  services: api\n  tasks: +smoke \(after api\), lint\n  e\.g\. tightloop run smoke/);
    // Help never fails for want of a config.
    assert.equal(cli(['--help'], await workspace()).code, 0);
  });

  it('`tightloop tasks` lists each task with its dependencies and last result', async () => {
    const dir = await workspace({ 'tightloop.yaml': YAML });
    const before = cli(['tasks'], dir);
    assert.equal(before.code, 0, before.stderr);
    assert.match(before.stdout, /^smoke +after api; last: never run\n +\$ echo hi$/m);
    assert.equal(cli(['run', 'smoke', 'lint'], dir).code, 1);
    const after = cli(['tasks'], dir);
    assert.match(after.stdout, /^smoke +after api; last: ok \d+ ms, /m);
    assert.match(after.stdout, /^lint +no dependencies; last: failed .* — task: "exit 3" exited with code 3$/m);
    const json = cli(['tasks', '--json'], dir).stdout.trim().split('\n').map((l) => JSON.parse(l));
    const lint = json.find((e) => e.type === 'task' && e.name === 'lint');
    assert.deepEqual({ ...lint, last: { ...lint.last, startedAt: 0, durationMs: 0 } }, {
      type: 'task',
      name: 'lint',
      command: 'exit 3',
      dependsOn: [],
      last: { status: 'failed', startedAt: 0, durationMs: 0, error: 'task: "exit 3" exited with code 3' },
    });
  });
});
