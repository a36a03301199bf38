import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/config/load.js';
import { workspace } from '../helpers/workspace.js';

async function messages(yaml: string): Promise<string[]> {
  const dir = await workspace();
  return parseConfigText(yaml, path.join(dir, 'tightloop.yaml')).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
}

describe('unknown fields: Tilt, Skaffold and Compose habits, near misses', () => {
  it('maps Tilt names to the Tightloop field, relative to where they were written', async () => {
    const issues = await messages(
      [
        'version: 1',
        'services:',
        '  api:',
        '    resource_deps: [db]',
        '    port_forwards: ["8080:8080"]',
        '    trigger_mode: manual',
        '    deps: [src]',
        '    live_update: []',
        '    auto_init: false',
        '    labels: [backend]',
        '  db: {}',
        '',
      ].join('\n'),
    );
    assert.deepEqual(issues, [
      '4:5 services.api.resource_deps: unknown field "resource_deps": "resource_deps" is Tilt\'s; Tightloop calls it "dependsOn" (did you mean "dependsOn"?)',
      '5:5 services.api.port_forwards: unknown field "port_forwards": "port_forwards" is Tilt\'s; Tightloop calls it "deploy.portForwards" (did you mean "deploy.portForwards"?)',
      '6:5 services.api.trigger_mode: unknown field "trigger_mode": "trigger_mode" is Tilt\'s; Tightloop calls it "trigger" (did you mean "trigger"?)',
      '7:5 services.api.deps: unknown field "deps": "deps" is Tilt\'s; Tightloop calls it "watch.paths" (did you mean "watch.paths"?)',
      '8:5 services.api.live_update: unknown field "live_update": "live_update" is Tilt\'s; in Tightloop: Tightloop compiles on the host (compile) and ships only the artifacts (stage) in a thin image',
      '9:5 services.api.auto_init: unknown field "auto_init": "auto_init" is Tilt\'s; in Tightloop: services with trigger: auto run when watching starts; use trigger: manual to wait for an explicit run',
      '10:5 services.api.labels: unknown field "labels": "labels" is Tilt\'s; in Tightloop: there are no resource labels; remove it',
    ]);
  });

  it('maps Compose and Skaffold names, and a task\'s own fields', async () => {
    const issues = await messages(
      ['version: 1', 'services:', '  api:', '    depends_on: [t]', 'tasks:', '  t:', '    command: make', '    cmd: make', '    working_dir: sub', ''].join('\n'),
    );
    assert.deepEqual(issues, [
      '4:5 services.api.depends_on: unknown field "depends_on": "depends_on" is Docker Compose\'s; Tightloop calls it "dependsOn" (did you mean "dependsOn"?)',
      '8:5 tasks.t.cmd: unknown field "cmd": "cmd" is Tilt\'s; Tightloop calls it "command" (did you mean "command"?)',
      '9:5 tasks.t.working_dir: unknown field "working_dir": "working_dir" is Docker Compose\'s; Tightloop calls it "cwd" (did you mean "cwd"?)',
    ]);
  });

  it('suggests the close field valid where it was written, or where a misplaced one belongs', async () => {
    const issues = await messages(
      ['version: 1', 'services:', '  api:', '    dependOn: []', '    readyTimeout: 1m', '    deploy: { workload: deployment/api, readyTimout: 1m }', '    frobnicate: 1', ''].join('\n'),
    );
    assert.deepEqual(issues, [
      '4:5 services.api.dependOn: unknown field "dependOn" (did you mean "dependsOn"?)',
      '5:5 services.api.readyTimeout: unknown field "readyTimeout" (did you mean "deploy.readyTimeout"?)',
      '6:41 services.api.deploy.readyTimout: unknown field "readyTimout" (did you mean "readyTimeout"?)',
      '7:5 services.api.frobnicate: unknown field "frobnicate"',
    ]);
  });
});
