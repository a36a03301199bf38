import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/config/load.js';
import { Engine } from '../../src/engine/engine.js';
import { put, workspace } from '../helpers/workspace.js';

describe('${env:X} in shell commands', () => {
  it('is one word for the shell: a hostile value is printed, never run (also inside double quotes)', async () => {
    const dir = await workspace();
    const yaml = `version: 1
services:
  api:
    compile: { command: 'echo \${env:BRANCH} > plain.txt && echo "branch \${env:BRANCH}!" > quoted.txt' }
tasks:
  t: { command: 'echo \${env:BRANCH} > task.txt' }
`;
    const file = await put(dir, 'tightloop.yaml', yaml);
    const branch = "main; touch pwned; echo '$(touch pwned2)' `touch pwned3`";
    const { config, issues } = parseConfigText(yaml, file, { ...process.env, BRANCH: branch });
    assert.deepEqual(issues, []);
    const engine = Engine.fromConfig(config!);
    try {
      const [api, task] = await engine.run(['api', 't']);
      assert.equal(api!.status, 'ok', api!.error);
      assert.equal(task!.status, 'ok', task!.error);
    } finally {
      await engine.dispose();
    }
    assert.equal(await readFile(path.join(dir, 'plain.txt'), 'utf8'), `${branch}\n`);
    assert.equal(await readFile(path.join(dir, 'quoted.txt'), 'utf8'), `branch ${branch}!\n`);
    assert.equal(await readFile(path.join(dir, 'task.txt'), 'utf8'), `${branch}\n`);
    for (const f of ['pwned', 'pwned2', 'pwned3']) assert.equal(existsSync(path.join(dir, f)), false, `${f} was created`);
  });
});
