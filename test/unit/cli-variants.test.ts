import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigVariants } from '../../src/engine/config/variants.js';
import { workspace } from '../helpers/workspace.js';

const BIN = path.resolve('src/cli/bin.ts');
const TSX = import.meta.resolve('tsx');
function cli(args: string[], cwd: string) {
  const result = spawnSync(process.execPath, ['--import', TSX, BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const BASE = `version: 1
kubernetes: { context: kind-dev, namespace: dev }
services:
  api:
    compile: { command: "mkdir -p out && echo base > out/api" }
    stage: { dir: staged, files: [{ from: out/api, to: api }] }
`;

describe('config variants: -c base -c overlay, --set', () => {
  it('merges a second file over the first (maps by key, values replaced) and --set over both', async () => {
    const dir = await workspace({ 'tightloop.yaml': BASE, 'ci.yaml': 'kubernetes: { context: k3d-ci }\nservices:\n  api:\n    compile: { timeout: 5m }\n' });
    const config = await loadConfigVariants([path.join(dir, 'tightloop.yaml'), path.join(dir, 'ci.yaml')], ['kubernetes.namespace=ci-42', 'settings.quietWindowMs=40'], {});
    assert.equal(config.kubernetes.context, 'k3d-ci');
    assert.equal(config.kubernetes.namespace, 'ci-42');
    assert.equal(config.settings.quietWindowMs, 40);
    assert.equal(config.services.api!.compile!.timeoutMs, 300_000);
    assert.equal(config.services.api!.compile!.command, 'mkdir -p out && echo base > out/api', 'kept from the base');
    assert.equal(config.root, dir);
  });

  it('reports a bad field in the file (or --set) that supplied it', async () => {
    const dir = await workspace({ 'tightloop.yaml': BASE, 'local.yaml': 'services:\n  api:\n    trigger: sometimes\n' });
    await assert.rejects(loadConfigVariants([path.join(dir, 'tightloop.yaml'), path.join(dir, 'local.yaml')], [], {}), (err: Error & { issues: { file: string; line: number; path: string }[] }) => {
      assert.equal(err.issues[0]!.file, path.join(dir, 'local.yaml'));
      assert.equal(err.issues[0]!.line, 3);
      assert.equal(err.issues[0]!.path, 'services.api.trigger');
      return true;
    });
    await assert.rejects(loadConfigVariants([path.join(dir, 'tightloop.yaml')], ['settings.quietWindowMs=fast'], {}), (err: Error & { issues: { file: string }[] }) => {
      assert.equal(err.issues[0]!.file, '--set settings.quietWindowMs=fast');
      return true;
    });
  });

  it('the CLI takes -c twice and --set', async () => {
    const dir = await workspace({ 'tightloop.yaml': BASE, 'local.yaml': 'services:\n  api:\n    compile: { command: "mkdir -p out && echo local > out/api" }\n' });
    const { code, stdout } = cli(['run', '-c', 'tightloop.yaml', '-c', 'local.yaml', '--set', 'services.api.stage.dir=staged2'], dir);
    assert.equal(code, 0, stdout);
    assert.equal((await import('node:fs')).readFileSync(path.join(dir, 'staged2/api'), 'utf8'), 'local\n');
  });
});
