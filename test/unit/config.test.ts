import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { formatIssue, loadConfig, parseConfigText, ConfigError } from '../../src/engine/config/load.js';
import { configJsonSchema } from '../../src/engine/config/json-schema.js';
import { configReferenceMarkdown } from '../../src/engine/config/reference-doc.js';
import { parseDuration, parseSize } from '../../src/engine/config/units.js';
import { put, workspace } from '../helpers/workspace.js';

/** Issues as "line:col path: message" for compact assertions. */
function issuesOf(text: string, file: string, env: NodeJS.ProcessEnv = {}) {
  return parseConfigText(text, file, env).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
}

describe('config errors name file, line, column and field', () => {
  it('reports bad YAML at its position', async () => {
    const dir = await workspace();
    const issues = parseConfigText('version: 1\nservices:\n  api: [\n', path.join(dir, 'tightloop.yaml')).issues;
    assert.ok(issues.length >= 1);
    assert.equal(issues[0]!.line, 4);
    assert.match(formatIssue(issues[0]!), /tightloop\.yaml:4:1: services\.api: YAML: /);
  });

  it('reports an unknown key at the key with a suggestion', async () => {
    const dir = await workspace({ 'src/a': '' });
    const text = 'version: 1\nservices:\n  api:\n    compile:\n      command: make\n      timeot: 5m\n';
    assert.deepEqual(issuesOf(text, path.join(dir, 'tightloop.yaml')), ['6:7 services.api.compile.timeot: unknown field "timeot" (did you mean "timeout"?)']);
  });

  it('reports wrong types and bad values at the value, all at once', async () => {
    const dir = await workspace();
    const text = [
      'version: 1',
      'services:',
      '  api:',
      '    trigger: sometimes',
      '    compile: { command: make, timeout: 5 minutes }',
      '    deploy: { workload: api }',
      '',
    ].join('\n');
    const issues = issuesOf(text, path.join(dir, 'tightloop.yaml'));
    assert.equal(issues.length, 3, issues.join('\n'));
    assert.match(issues[0]!, /^4:14 services\.api\.trigger: /);
    assert.match(issues[1]!, /^5:40 services\.api\.compile\.timeout: expected a duration/);
    assert.match(issues[2]!, /^6:25 services\.api\.deploy\.workload: expected kind\/name/);
  });

  it('reports a missing required field at its parent', async () => {
    const dir = await workspace();
    const issues = issuesOf('version: 1\nservices:\n  api:\n    compile: { cwd: . }\n', path.join(dir, 'tightloop.yaml'));
    assert.equal(issues.length, 1);
    assert.match(issues[0]!, /^4:14 services\.api\.compile\.command: /);
  });

  it('reports a missing Dockerfile and a missing watch path', async () => {
    const dir = await workspace({ 'out/x': '' });
    const text = [
      'version: 1',
      'services:',
      '  api:',
      '    watch: { paths: [srcc] }',
      '    stage: { dir: out, files: [{ from: bin/api, to: api }] }',
      '    image: { repository: r/api, dockerfile: Dockerfile.dev }',
      '',
    ].join('\n');
    const issues = issuesOf(text, path.join(dir, 'tightloop.yaml'));
    assert.deepEqual(issues.map((i) => i.split(' ')[0]), ['4:22', '6:45']);
    assert.match(issues[0]!, /watch path not found: .*srcc/);
    assert.match(issues[1]!, /Dockerfile not found: .*Dockerfile\.dev/);
  });

  it('reports a dependsOn cycle, an unknown dependency and a self-dependency', async () => {
    const dir = await workspace();
    const text = [
      'version: 1',
      'services:',
      '  api: { dependsOn: [web] }',
      '  web: { dependsOn: [api, ghost] }',
      'tasks:',
      '  t: { command: "true", dependsOn: [t] }',
      '',
    ].join('\n');
    const issues = issuesOf(text, path.join(dir, 'tightloop.yaml'));
    assert.ok(issues.some((i) => /^4:27 services\.web\.dependsOn\.1: unknown service or task "ghost"/.test(i)), issues.join('\n'));
    assert.ok(issues.some((i) => /^6:37 tasks\.t\.dependsOn\.0: "t" depends on itself/.test(i)), issues.join('\n'));
    assert.ok(issues.some((i) => /dependency cycle: (api → web → api|web → api → web)/.test(i)), issues.join('\n'));
  });

  it('reports duplicate staging targets and a shared staging folder', async () => {
    const dir = await workspace();
    const text = [
      'version: 1',
      'services:',
      '  api:',
      '    stage:',
      '      dir: out',
      '      files:',
      '        - { from: a, to: bin/app }',
      '        - { from: b, to: ./bin//app }',
      '  web:',
      '    stage: { dir: ./out, files: [{ from: c, to: c }] }',
      '',
    ].join('\n');
    const issues = issuesOf(text, path.join(dir, 'tightloop.yaml'));
    assert.deepEqual(issues, [
      '8:26 services.api.stage.files.1.to: duplicate staging target "bin/app" (also files[0])',
      `10:19 services.web.stage.dir: staging folder ${path.join(dir, 'out')} is also used by service "api"`,
    ]);
  });

  it('reports paths that escape the workspace', async () => {
    const dir = await workspace();
    const text = [
      'version: 1',
      'services:',
      '  api:',
      '    stage: { dir: ../elsewhere, files: [{ from: ../../etc/passwd, to: ../x }] }',
      '',
    ].join('\n');
    const issues = issuesOf(text, path.join(dir, 'tightloop.yaml'));
    assert.equal(issues.length, 3, issues.join('\n'));
    assert.match(issues[0]!, /^4:19 services\.api\.stage\.dir: "\.\.\/elsewhere" resolves to .* outside the workspace/);
    assert.match(issues[1]!, /^4:49 services\.api\.stage\.files\.0\.from: .*outside the workspace/);
    assert.match(issues[2]!, /^4:71 services\.api\.stage\.files\.0\.to: "\.\.\/x" escapes the staging folder/);
  });

  it('interpolates ${env:NAME} and reports a missing variable at its field', async () => {
    const dir = await workspace();
    const text = 'version: 1\nservices:\n  api:\n    image: { repository: "${env:REG}/api" }\n    stage: { dir: out, files: [{ from: "${env:BIN}", to: api }] }\n';
    const file = path.join(dir, 'tightloop.yaml');
    assert.deepEqual(issuesOf(text, file, { REG: 'localhost:5000' }), [
      '5:40 services.api.stage.files.0.from: environment variable BIN is not set (used as ${env:BIN})',
    ]);
    const { config } = parseConfigText(text, file, { REG: 'localhost:5000', BIN: 'target/api' });
    assert.equal(config?.services.api?.image?.repository, 'localhost:5000/api');
    assert.equal(config.services.api.stage?.files[0]?.from, path.join(dir, 'target/api'));
  });

  it('throws ConfigError (no stack in its message) for a missing config file', async () => {
    const dir = await workspace();
    const file = path.join(dir, 'nope', 'tightloop.yaml');
    await assert.rejects(loadConfig(file), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message, `${file}: file not found`);
      return true;
    });
  });
});

describe('config resolution', () => {
  it('resolves paths against the config folder and fills defaults', async () => {
    const dir = await workspace({ 'src/main.c': '', Dockerfile: 'FROM scratch\n' });
    const file = await put(dir, 'tightloop.yaml', 'version: 1\nservices:\n  api:\n    watch: { paths: [src] }\n    compile: { command: make }\n    stage: { dir: out, files: [{ from: build/api, to: /api, mode: "0755" }] }\n    image: { repository: r/api, dockerfile: Dockerfile }\n    deploy: { workload: deployment/api, portForwards: ["8080:80"] }\n');
    const config = await loadConfig(file);
    const api = config.services.api!;
    assert.deepEqual(api.watch, { paths: [path.join(dir, 'src')], ignore: [] });
    assert.equal(api.compile?.timeoutMs, 600_000);
    assert.equal(api.compile.cwd, dir);
    assert.deepEqual(api.stage?.files, [{ from: path.join(dir, 'build/api'), to: 'api', mode: 0o755 }]);
    assert.equal(api.image?.platform, 'linux/amd64');
    assert.deepEqual(api.deploy?.portForwards, [{ local: 8080, remote: 80 }]);
    assert.equal(api.deploy.readyTimeoutMs, 120_000);
    assert.equal(config.settings.quietWindowMs, 15);
    assert.ok(config.kubernetes.allowContexts.includes('kind-*'));
  });

  it('loads the bundled example', async () => {
    const config = await loadConfig(path.resolve('examples/hello-service/tightloop.yaml'));
    assert.deepEqual(Object.keys(config.services), ['hello']);
    assert.deepEqual(Object.keys(config.tasks), ['version-check']);
  });

  it('parses durations and sizes', () => {
    assert.equal(parseDuration('10m'), 600_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration(250), 250);
    assert.equal(parseSize('500MB'), 500_000_000);
    assert.equal(parseSize('2GiB'), 2 * 1024 ** 3);
    assert.equal(parseSize('lots'), undefined);
  });

  it('ships a JSON Schema and a config reference that match the zod schema (run `npm run gen:schema` after schema changes)', async () => {
    assert.equal(await readFile('schema/tightloop.schema.json', 'utf8'), configJsonSchema());
    assert.equal(await readFile('docs/config-reference.md', 'utf8'), configReferenceMarkdown());
  });
});
