import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/config/load.js';
import { planBuild } from '../../src/engine/docker/context/plan.js';
import { engineIn, workspace } from '../helpers/workspace.js';

const CONFIG = `version: 1
services:
  api:
    stage: { dir: staged, files: [{ from: out/api, to: api }] }
`;

const OPT_IN = 'settings.followSymlinksOutsideWorkspace: true';

/** A workspace and, beside it (outside), a folder with a secret and a file that must survive. */
async function withOutside(files: Record<string, string> = {}) {
  const outside = await workspace({ 'secret.key': 'SECRET', 'precious/keep.txt': 'mine' });
  const dir = await workspace(files);
  return { dir, outside };
}

function issuesOf(dir: string, yaml: string) {
  return parseConfigText(yaml, path.join(dir, 'tightloop.yaml')).issues.map((i) => `${i.path}: ${i.message}`);
}

describe('symbolic links never lead staging or a build context out of the workspace', () => {
  it('an artifact linked to an outside file is refused when the config loads, naming field, link, target and the option', async () => {
    const { dir, outside } = await withOutside();
    await mkdir(path.join(dir, 'out'));
    await symlink(path.join(outside, 'secret.key'), path.join(dir, 'out/api'));
    const issues = issuesOf(dir, CONFIG);
    assert.equal(issues.length, 1, issues.join('\n'));
    assert.equal(
      issues[0],
      `services.api.stage.files.0.from: the artifact out/api leads through a symbolic link to ${path.join(outside, 'secret.key')}, outside the workspace ${dir}: Tightloop stages and sends only files inside it (set ${OPT_IN} to allow this)`,
    );
  });

  it('an artifact the compile makes a link to an outside file is refused by the stage step: nothing of it is staged', async () => {
    const { dir, outside } = await withOutside();
    const yaml = CONFIG.replace('    stage:', `    compile: { command: "mkdir -p out && ln -sf ${path.join(outside, 'secret.key')} out/api" }\n    stage:`);
    const { engine } = await engineIn(dir, yaml);
    const [run] = await engine.run(['api']);
    assert.equal(run!.status, 'failed');
    assert.match(run!.error!, /^staging: the artifact out\/api leads through a symbolic link to .*secret\.key, outside the workspace/);
    assert.equal(existsSync(path.join(dir, 'staged')), false);
  });

  it('a staging folder linked to an outside folder is refused at load and at run time; the outside folder is left as it was', async () => {
    const { dir, outside } = await withOutside({ 'out/api': 'binary' });
    await symlink(path.join(outside, 'precious'), path.join(dir, 'staged'));
    assert.match(issuesOf(dir, CONFIG).join('\n'), /services\.api\.stage\.dir: the staging folder staged leads through a symbolic link to .*precious, outside the workspace/);
    // Linked after the config loaded (a script, a checkout): the stage step checks again.
    const { engine } = await engineIn(dir, CONFIG.replace('dir: staged', 'dir: build/staged'));
    await symlink(path.join(outside, 'precious'), path.join(dir, 'build'));
    const [run] = await engine.run(['api']);
    assert.equal(run!.status, 'failed');
    assert.match(run!.error!, /^staging: the staging folder build\/staged leads through a symbolic link to .*precious\/staged, outside the workspace/);
    assert.deepEqual(await readdir(path.join(outside, 'precious'), { recursive: true }), ['keep.txt']);
  });

  it('a build context or Dockerfile linked outside is refused when the config loads and when the image is planned', async () => {
    const { dir, outside } = await withOutside({ Dockerfile: 'FROM scratch\n' });
    await symlink(outside, path.join(dir, 'ctx'));
    await symlink(path.join(outside, 'secret.key'), path.join(dir, 'Other.Dockerfile'));
    const yaml = `version: 1
services:
  api:
    image: { repository: api, context: ctx, dockerfile: Other.Dockerfile }
`;
    const issues = issuesOf(dir, yaml).join('\n');
    assert.match(issues, /services\.api\.image\.context: the build context ctx leads through a symbolic link to /);
    assert.match(issues, /services\.api\.image\.dockerfile: the Dockerfile Other\.Dockerfile leads through a symbolic link to /);
    const service = { name: 'api', image: { context: path.join(dir, 'ctx'), dockerfile: path.join(dir, 'Dockerfile') } };
    await assert.rejects(
      planBuild({ service: service as never, configRoot: dir }, new AbortController().signal),
      new RegExp(`^StageError: the build context ctx leads through a symbolic link to ${outside}, outside the workspace`),
    );
  });

  it(`links inside the workspace are fine, and ${OPT_IN} lets one lead out`, async () => {
    const { dir, outside } = await withOutside({ 'build/real-api': 'inside' });
    await mkdir(path.join(dir, 'out'));
    await symlink(path.join(dir, 'build/real-api'), path.join(dir, 'out/api'));
    const { engine } = await engineIn(dir, CONFIG);
    assert.equal((await engine.run(['api']))[0]!.status, 'ok');
    assert.equal(await readFile(path.join(dir, 'staged/api'), 'utf8'), 'inside');

    const other = await workspace();
    await mkdir(path.join(other, 'out'));
    await symlink(path.join(outside, 'secret.key'), path.join(other, 'out/api'));
    const yaml = `${CONFIG}settings: { followSymlinksOutsideWorkspace: true }\n`;
    assert.deepEqual(issuesOf(other, yaml), []);
    const { engine: allowed } = await engineIn(other, yaml);
    const [run] = await allowed.run(['api']);
    assert.equal(run!.status, 'ok', run!.error);
    assert.equal(await readFile(path.join(other, 'staged/api'), 'utf8'), 'SECRET');
  });
});
