import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Engine } from '../../src/engine/index.js';
import { chooseConfig, filesToNotify, isConfigFile, rebuildTargets } from '../../src/extension/model/targets.js';
import { until } from '../helpers/workspace.js';

describe('file → service mapping for saves and the status-bar click', () => {
  let dir: string;
  let engine: Engine;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tl-targets-'));
    for (const d of ['api/src', 'web/src', 'shared', 'api/target']) mkdirSync(path.join(dir, d), { recursive: true });
    writeFileSync(
      path.join(dir, 'tightloop.yaml'),
      [
        'version: 1',
        'services:',
        '  api:',
        '    watch: { paths: [api, shared], ignore: ["api/target/**"] }',
        '    compile: { command: "true" }',
        '  web:',
        '    watch: { paths: [web, shared] }',
        '    trigger: manual',
        '    compile: { command: "true" }',
        '  batch:',
        '    compile: { command: "true" }',
      ].join('\n'),
    );
    engine = await Engine.create(path.join(dir, 'tightloop.yaml'));
  });

  after(async () => {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const targets = (activeFile: string | undefined, configured: string[] = []) =>
    rebuildTargets({ activeFile, servicesForFile: (f) => engine.servicesForFile(f), configured, services: ['api', 'web', 'batch'] });

  it('rebuilds the services that watch the active file', () => {
    assert.deepEqual(targets(path.join(dir, 'api/src/main.rs')).names, ['api']);
    assert.deepEqual(targets(path.join(dir, 'shared/types.h')).names, ['api', 'web']);
    assert.match(targets(path.join(dir, 'shared/types.h')).because, /types\.h belongs to api, web/);
  });

  it('falls back to the status-bar services, then to all, for files no service watches', () => {
    assert.deepEqual(targets(path.join(dir, 'api/target/debug/api')).names, ['api', 'web', 'batch'], 'ignored build output belongs to nobody');
    assert.deepEqual(targets(path.join(dir, 'README.md'), ['web', 'gone']).names, ['web']);
    assert.deepEqual(targets(undefined).names, ['api', 'web', 'batch']);
    assert.match(targets(undefined).because, /no file is active/);
  });

  it('sends only saved files on disk to the engine, never the config itself', () => {
    const config = path.join(dir, 'tightloop.yaml');
    const files = filesToNotify(
      [
        { scheme: 'file', fsPath: path.join(dir, 'api/src/main.rs') },
        { scheme: 'file', fsPath: path.join(dir, 'api/src/main.rs') },
        { scheme: 'untitled', fsPath: 'Untitled-1' },
        { scheme: 'vscode-userdata', fsPath: '/settings.json' },
        { scheme: 'file', fsPath: config },
      ],
      config,
    );
    assert.deepEqual(files, [path.join(dir, 'api/src/main.rs')]);
  });

  it('recognises config files and prefers the shallowest one', () => {
    assert.equal(isConfigFile('/w/x/tightloop.yaml'), true);
    assert.equal(isConfigFile('/w/x/tightloop.yml'), false);
    assert.equal(chooseConfig(['/w/b/c/tightloop.yaml', '/w/tightloop.yaml', '/w/a/tightloop.yaml']), '/w/tightloop.yaml');
    assert.equal(chooseConfig(['/w/b/tightloop.yaml', '/w/a/tightloop.yaml']), '/w/a/tightloop.yaml');
    assert.equal(chooseConfig([]), undefined);
  });

  it('notifySaved of a watched file starts a run of an auto service and only marks a manual one pending', async () => {
    const events: string[] = [];
    engine.on((e) => {
      if (e.type === 'run-started') events.push(`started:${e.service}:${e.trigger.reason}`);
      if (e.type === 'changes-pending') events.push(`pending:${e.service}`);
    });
    const file = path.join(dir, 'shared/types.h');
    writeFileSync(file, '// changed\n');
    engine.notifySaved(filesToNotify([{ scheme: 'file', fsPath: file }], path.join(dir, 'tightloop.yaml')));
    // Wait for the state (both reactions seen), not for a time margin: CI is a loaded machine.
    await until(() => events.length >= 2, 10_000, 'the save to reach both services');
    await engine.whenIdle();
    assert.deepEqual(events.sort(), ['pending:web', 'started:api:save']);
  });
});
