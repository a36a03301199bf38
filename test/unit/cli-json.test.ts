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

/** Every stdout line parsed; fails on any line that is not a JSON object with a `type`. */
function jsonLines(stdout: string): { type: string; [k: string]: unknown }[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const parsed = JSON.parse(line) as { type?: unknown };
      assert.equal(typeof parsed.type, 'string', `no type: ${line}`);
      return parsed as { type: string };
    });
}

const YAML = `version: 1
services:
  petstore:
    compile: { command: "true" }
tasks:
  smoke: { command: "true", dependsOn: [petstore] }
`;

describe('--json: every message is one JSON line with a type, on stdout only', () => {
  const cases: { name: string; args: string[]; code: number; type: string; message?: RegExp; config?: boolean }[] = [
    { name: 'unknown service or task', args: ['run', 'petstor', '--json'], code: 2, type: 'usage-error', message: /unknown service or task "petstor" \(did you mean "petstore"\? known: petstore, smoke\)/ },
    { name: 'unknown command', args: ['explode', '--json'], code: 2, type: 'usage-error', message: /unknown command "explode"/ },
    { name: 'unknown option', args: ['run', '--jsno', '--json'], code: 2, type: 'usage-error', message: /jsno/ },
    { name: 'no config', args: ['run', '--json'], code: 2, type: 'usage-error', message: /no tightloop\.yaml/, config: false },
    { name: 'help', args: ['--help', '--json'], code: 0, type: 'usage', message: undefined },
    { name: 'doctor', args: ['doctor', '--json'], code: 0, type: 'doctor', message: undefined },
    { name: 'history', args: ['history', '--json'], code: 0, type: 'history-run', message: undefined },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const dir = await workspace(c.config === false ? {} : { 'tightloop.yaml': YAML });
      if (c.type === 'history-run') assert.equal(cli(['run', 'smoke'], dir).code, 0);
      const { code, stdout, stderr } = cli(c.args, dir);
      assert.equal(stderr, '', 'nothing on stderr');
      if (c.type !== 'doctor') assert.equal(code, c.code, stdout);
      const lines = jsonLines(stdout);
      assert.ok(lines.length > 0);
      assert.ok(lines.some((l) => l.type === c.type), stdout);
      if (c.message) assert.match(String(lines.find((l) => l.type === c.type)!.message), c.message);
    });
  }

  it('a bad config is one config-error line shaped as the engine event (every issue with file, line, field)', async () => {
    const dir = await workspace({ 'tightloop.yaml': YAML.replace('compile: { command: "true" }', 'compile: { command: "true", timeout: 0s }\n    bogus: 1') });
    const { code, stdout, stderr } = cli(['run', '--json'], dir);
    assert.equal(code, 2);
    assert.equal(stderr, '');
    const lines = jsonLines(stdout);
    assert.equal(lines.length, 1, stdout);
    const event = lines[0] as unknown as { type: string; errors: { file: string; line: number; column: number; path?: string; message: string }[] };
    assert.equal(event.type, 'config-error');
    assert.equal(event.errors.length, 2, stdout);
    for (const issue of event.errors) {
      assert.equal(issue.file, path.join(dir, 'tightloop.yaml'));
      assert.ok(issue.line >= 4 && issue.column >= 1, JSON.stringify(issue));
    }
    assert.ok(event.errors.some((e) => /timeout/.test(`${e.path} ${e.message}`)) && event.errors.some((e) => /bogus/.test(`${e.path} ${e.message}`)), stdout);
  });

  it('without --json, a usage error is still text on stderr with exit 2', async () => {
    const dir = await workspace({ 'tightloop.yaml': YAML });
    const { code, stdout, stderr } = cli(['run', 'petstor'], dir);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /^tightloop: unknown service or task "petstor" \(did you mean "petstore"\?/);
  });
});
