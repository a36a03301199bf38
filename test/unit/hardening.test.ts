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

describe('--json to a slow reader', () => {
  it('writes every event, in order, before exiting (20,000 compile lines through a pipe that is read late)', async () => {
    const dir = await workspace({
      'tightloop.yaml': `version: 1
services:
  api:
    compile: { command: 'seq 1 20000 | sed "s/^/compile line /"' }
`,
    });
    const bin = path.resolve('src/cli/bin.ts');
    const tsx = import.meta.resolve('tsx');
    // The reader starts only after the writer filled the pipe: what Node buffered must still arrive.
    const script = `"${process.execPath}" --import "${tsx}" "${bin}" run --json | (while [ ! -s .tightloop/history.jsonl ]; do sleep 0.1; done; cat)`;
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync('sh', ['-c', script], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; line?: { text: string } });
    const logs = events.filter((e) => e.type === 'log' && e.line?.text.startsWith('compile line '));
    assert.equal(logs.length, 20_000);
    assert.ok(logs.every((e, i) => e.line!.text === `compile line ${i + 1}`), 'in order');
    assert.equal(events.at(-1)!.type, 'run-finished');
  });
});

describe('staging is swapped in whole', () => {
  it('a run cancelled during staging leaves the previous folder exactly as it was, with no temp file inside', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`out/f${i}`] = `v1 ${i}\n`;
    const dir = await workspace(files);
    const yaml = `version: 1
services:
  api:
    stage: { dir: staged, files: [{ from: out, to: app }] }
`;
    const file = await put(dir, 'tightloop.yaml', yaml);
    const engine = Engine.fromConfig(parseConfigText(yaml, file).config!);
    try {
      assert.equal((await engine.run(['api']))[0]!.status, 'ok');
      const { readdir, writeFile } = await import('node:fs/promises');
      const before = await readdir(path.join(dir, 'staged', 'app'));
      for (let i = 0; i < 300; i++) await writeFile(path.join(dir, `out/f${i}`), `v2 ${i}\n`);
      // Cancel as soon as the first new file was written anywhere (in place, or in a folder being built).
      const { readFileSync } = await import('node:fs');
      const written = () =>
        [path.join(dir, 'staged/app/f0'), path.join(dir, '.tightloop/tmp/api.stage-next/app/f0')].some((f) => {
          try {
            return readFileSync(f, 'utf8').startsWith('v2');
          } catch {
            return false;
          }
        });
      let polling = false;
      const poll = () => {
        if (!polling) return;
        if (written()) engine.cancel();
        else setImmediate(poll);
      };
      const off = engine.on((e) => {
        if (e.type === 'stage-started' && e.stage === 'staging') {
          polling = true;
          poll();
        }
        if (e.type === 'run-finished') polling = false;
      });
      const [summary] = await engine.run(['api']);
      off();
      const contents = new Set<string>();
      for (const name of await readdir(path.join(dir, 'staged', 'app'))) contents.add((await readFile(path.join(dir, 'staged', 'app', name), 'utf8')).split(' ')[0]!);
      assert.deepEqual((await readdir(path.join(dir, 'staged', 'app'))).sort(), before.sort(), 'no temp or extra file in the context');
      assert.deepEqual(await readdir(path.join(dir, 'staged')), ['app']);
      assert.equal(contents.size, 1, `a mix of versions: ${[...contents].join(', ')} (run ${summary!.status})`);
      assert.deepEqual([...contents], [summary!.status === 'ok' ? 'v2' : 'v1']);
      // The next run completes the new set.
      assert.equal((await engine.run(['api']))[0]!.status, 'ok');
      assert.equal(await readFile(path.join(dir, 'staged', 'app', 'f299'), 'utf8'), 'v2 299\n');
    } finally {
      await engine.dispose();
    }
  });
});

describe('stage.dir overlapping sources or state', () => {
  for (const [dir, clash] of [
    ['src', /is watch path src of service "api"/],
    ['src/..', /workspace root/],
    ['.tightloop', /is \.tightloop/],
    ['.tightloop/state', /lies inside \.tightloop/],
    ['.git', /is \.git/],
    ['.git/x', /lies inside \.git/],
    ['out', /is artifact out\/api|contains artifact out\/api/],
    ['gen', /is compile input gen\/\*\*/],
    ['gen/sub', /lies inside compile input gen\/\*\*/],
  ] as const) {
    it(`refuses stage.dir: ${dir}`, async () => {
      const ws = await workspace({ 'src/main.c': 'int main;', 'out/api': 'x', 'gen/a': '', '.git/HEAD': '' });
      const yaml = `version: 1
services:
  api:
    watch: { paths: [src] }
    compile: { command: make, inputs: ["gen/**"] }
    stage: { dir: ${dir}, files: [{ from: out/api, to: api }] }
`;
      const { config, issues } = parseConfigText(yaml, path.join(ws, 'tightloop.yaml'));
      assert.equal(config, undefined);
      const issue = issues.find((i) => i.path === 'services.api.stage.dir');
      assert.ok(issue, JSON.stringify(issues));
      assert.equal(issue.line, 6);
      assert.match(issue.message, clash);
    });
  }

  it('accepts a folder of its own, also one inside a watched folder or under .tightloop/stage', async () => {
    const ws = await workspace({ 'src/main.c': '', 'out/api': 'x' });
    for (const dir of ['build/staging', 'src/staged', '.tightloop/stage/api']) {
      const yaml = `version: 1\nservices:\n  api:\n    watch: { paths: [src] }\n    stage: { dir: ${dir}, files: [{ from: out/api, to: api }] }\n`;
      assert.deepEqual(parseConfigText(yaml, path.join(ws, 'tightloop.yaml')).issues, []);
    }
  });
});
