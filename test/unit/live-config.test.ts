import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/config/load.js';
import { containerPathOf, imageContent, planLiveSync } from '../../src/engine/live/plan.js';
import type { StagedFile } from '../../src/engine/stages/stage.js';
import { workspace } from '../helpers/workspace.js';

const base = (live: string) =>
  ['version: 1', 'services:', '  api:', '    stage:', '      dir: .stage', '      files:', '        - { from: out/server, to: server }', '        - { from: web, to: static }', '    image: { repository: 127.0.0.1:5000/api }', live].join('\n');

describe('live: config', () => {
  it('resolves mappings, action, signal number and sizes', async () => {
    const dir = await workspace({ 'out/server': '', 'web/index.html': '' });
    const { config, issues } = parseConfigText(base('    live:\n      sync: [{ from: server, to: /app/server }, { from: static/, to: /app/www }]\n      action: signal\n      signal: USR1\n      maxDelta: 1MB\n      grace: 2s'), path.join(dir, 'tightloop.yaml'));
    assert.deepEqual(issues, []);
    const live = config!.services.api!.live!;
    assert.deepEqual(live.sync, [{ from: 'server', to: '/app/server' }, { from: 'static', to: '/app/www' }]);
    assert.equal(live.action, 'signal');
    assert.equal(live.signal, 10);
    assert.equal(live.maxDeltaBytes, 1_000_000);
    assert.equal(live.graceMs, 2000);
    assert.equal(live.listenTimeoutMs, 10_000);
  });

  it('names the line and field of a bad mapping', async () => {
    const dir = await workspace({ 'out/server': '', 'web/index.html': '' });
    const issuesIn = (live: string) => parseConfigText(base(live), path.join(dir, 'tightloop.yaml')).issues.map((i) => `${i.line}:${i.path}: ${i.message}`);
    const shape = issuesIn('    live:\n      sync:\n        - { from: server, to: app/server }\n        - { from: server, to: /app/../etc }');
    assert.ok(shape.some((i) => /^12:services\.api\.live\.sync\.0\.to: expected an absolute container path/.test(i)), shape.join('\n'));
    assert.ok(shape.some((i) => /^13:services\.api\.live\.sync\.1\.to: .*"\.\."/.test(i)), shape.join('\n'));
    const refs = issuesIn('    live:\n      sync:\n        - { from: server, to: /app/server }\n        - { from: nothere, to: /x }');
    assert.ok(refs.some((i) => /^13:services\.api\.live\.sync\.1\.from: "nothere" is not staged/.test(i)), refs.join('\n'));
  });

  it('needs an image (the image carries the agent)', async () => {
    const dir = await workspace({ 'out/server': '' });
    const text = ['version: 1', 'services:', '  api:', '    stage: { dir: .stage, files: [{ from: out/server, to: server }] }', '    live: { sync: [{ from: server, to: /app/server }] }'].join('\n');
    const issues = parseConfigText(text, path.join(dir, 'tightloop.yaml')).issues.map((i) => i.message);
    assert.ok(issues.some((m) => /live update needs a stage section and an image section/.test(m)), issues.join('\n'));
  });
});

describe('live sync plan', () => {
  const live = { sync: [{ from: 'server', to: '/app/server' }, { from: 'static', to: '/app/www' }], action: 'restart' as const, signal: 1, fallBackOn: ['Dockerfile', 'migrations/**'], maxDeltaBytes: 1000, graceMs: 1, listenTimeoutMs: 1 };
  const f = (p: string, sha: string, size = 10, mode = 0o644): StagedFile => ({ path: p, sha256: sha.padEnd(64, '0'), size, mode });
  const image = [f('server', 'a'), f('static/index.html', 'b'), f('config.json', 'c')];
  const args = (staged: StagedFile[], extra: Partial<Parameters<typeof planLiveSync>[0]> = {}) => ({ live, root: '/ws', stagingDir: '/ws/.stage', staged, imageFiles: image, pod: imageContent(live, image), changedFiles: ['/ws/src/main.rs'], ...extra });

  it('maps staged paths to container paths (longest mapping wins)', () => {
    assert.equal(containerPathOf(live, 'server'), '/app/server');
    assert.equal(containerPathOf(live, 'static/css/a.css'), '/app/www/css/a.css');
    assert.equal(containerPathOf(live, 'config.json'), undefined);
    assert.equal(containerPathOf({ ...live, sync: [{ from: '.', to: '/srv' }] }, 'a/b'), '/srv/a/b');
  });

  it('syncs only what differs from what the pod runs', () => {
    const plan = planLiveSync(args([f('server', 'd'), f('static/index.html', 'b'), f('config.json', 'c')]));
    assert.equal(plan.kind, 'live');
    assert.deepEqual(plan.files.map((x) => [x.path, x.source]), [['/app/server', '/ws/.stage/server']]);
    const again = planLiveSync(args([f('server', 'd'), f('static/index.html', 'b'), f('config.json', 'c')], { pod: { ...imageContent(live, image), '/app/server': 'd'.padEnd(64, '0') } }));
    assert.deepEqual(again.kind === 'live' && again.files, []);
  });

  it('falls back, saying why', () => {
    const reason = (p: ReturnType<typeof planLiveSync>) => (p.kind === 'fallback' ? p.reason : 'live');
    assert.equal(reason(planLiveSync(args(image, { changedFiles: ['/ws/Dockerfile'] }))), 'Dockerfile changed and matches live.fallBackOn');
    assert.equal(reason(planLiveSync(args([f('server', 'a'), f('static/index.html', 'b'), f('config.json', 'x')]))), 'config.json changed and is not covered by live.sync');
    assert.equal(reason(planLiveSync(args([f('server', 'a'), f('static/index.html', 'b'), f('config.json', 'c'), f('extra', 'e')]))), 'extra is new and is not covered by live.sync');
    assert.equal(reason(planLiveSync(args([f('server', 'a'), f('config.json', 'c')]))), 'static/index.html is no longer staged (a live update only adds and replaces files)');
    assert.match(reason(planLiveSync(args([f('server', 'z', 2000), f('static/index.html', 'b'), f('config.json', 'c')]))), /differ from their image by 2\.0 KiB, more than live\.maxDelta/);
  });
});

describe('live-mode image', () => {
  it('wraps the entrypoint with the agent, targets and grace; finds the built agent', async () => {
    const { liveEntrypoint, agentBinaryFor, agentArch } = await import('../../src/engine/live/image.js');
    const live = { sync: [{ from: 'server', to: '/app/server' }, { from: 'static', to: '/app/www' }], action: 'restart' as const, signal: 1, fallBackOn: [], maxDeltaBytes: 1, graceMs: 2500, listenTimeoutMs: 1 };
    assert.deepEqual(liveEntrypoint(live, ['/server', '--port', '80']), ['/.tightloop/agent', 'run', '--target', '/app/server', '--target', '/app/www', '--grace', '2500', '--', '/server', '--port', '80']);
    assert.deepEqual(liveEntrypoint(live, undefined).slice(-1), ['--']);
    assert.equal(agentArch('linux/arm64/v8'), 'arm64');
    assert.equal(agentArch('windows/amd64'), undefined);
    assert.match(agentBinaryFor('linux/amd64'), /dist\/agent\/agent-linux-amd64$/);
    assert.throws(() => agentBinaryFor('linux/s390x'), /no agent for platform linux\/s390x/);
  });
});
