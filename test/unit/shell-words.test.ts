import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Engine } from '../../src/engine/index.js';
import { analyseCommand, ShellSyntaxError } from '../../src/engine/doctor/shell-words.js';
import { workspace } from '../helpers/workspace.js';

describe('shell words: the programs a command starts', () => {
  const cases: [string, string[], string[]?][] = [
    [`RUSTFLAGS='-C target-feature=+crt-static' cargo build --release`, ['cargo']],
    [`A=1 B="x y" CC="zig cc" make -j4 && strip out/api`, ['make', 'strip']],
    [`cd sub; go build ./... || echo failed | tee log`, ['go', 'tee']],
    [`(cd web && npm ci) && ./scripts/pack.sh > out.log 2>&1`, ['npm', './scripts/pack.sh']],
    [`env GOOS=linux GOARCH=amd64 go build -o out/api .`, ['env', 'go']],
    [`nice -n 5 make -j2 && env -u HOME cc x.c`, ['nice', 'make', 'env', 'cc']],
    [`if test -f Makefile; then make; else gcc -static -o a a.c; fi`, ['make', 'gcc']],
    [`for f in a b c; do cc -c $f.c; done`, ['cc']],
    [`build() { gcc -o x x.c; }; build`, ['gcc']],
    [`echo "a && b; c | d" 'e || f' && true`, []],
    [`cat <<EOF > conf\nnot a command\nEOF\nprotoc --version`, ['cat', 'protoc']],
    [`cargo build --target "$(uname -m)-unknown-linux-musl"`, ['uname', 'cargo']],
    [`$CC -o out main.c`, [], ['$CC']],
    [`"$(which cc)" -o out main.c`, ['which'], ['"$(which cc)"']],
    [`case "$X" in a) make;; b) ninja;; esac`, ['make', 'ninja']],
    [`command -v zig >/dev/null && zig build`, ['zig']],
    [`a\\\nb`, ['ab']],
  ];
  for (const [command, programs, unknown = []] of cases) {
    it(JSON.stringify(command), () => {
      const analysis = analyseCommand(command);
      assert.deepEqual(analysis.programs, programs);
      assert.deepEqual(analysis.unknown, unknown);
    });
  }

  it('source, alias and eval make unknown programs uncertain', () => {
    assert.match(analyseCommand('. ./env.sh && mybuild').indirect ?? '', /`\.`/);
    assert.equal(analyseCommand('make').indirect, undefined);
  });

  it('a command the shell would reject is a syntax error, not a guess', () => {
    assert.throws(() => analyseCommand(`echo 'oops`), ShellSyntaxError);
    assert.throws(() => analyseCommand('echo $(date'), ShellSyntaxError);
  });
});

describe('doctor tools check', () => {
  it('env-prefixed commands pass; `$CC` and sourced helpers are "cannot tell", not failures', async () => {
    const dir = await workspace({
      'tightloop.yaml': `version: 1
services:
  api:
    compile: { command: "RUSTFLAGS='-C target-feature=+crt-static' sh -c true" }
  web:
    compile: { command: "true" }
    stage: { dir: staged, files: [{ from: out/app, to: app }] }
tasks:
  cc: { command: "$CC -o out main.c" }
  sourced: { command: ". ./env.sh && tl_missing_helper_17" }
  missing: { command: "FOO='a b' tl_missing_tool_17 --flag" }
  staged: { command: "./staged/app --version && ./out/app -v && ./elsewhere/tool", dependsOn: [web] }
`,
      'env.sh': '',
    });
    const engine = await Engine.create(`${dir}/tightloop.yaml`);
    try {
      const tools = (await engine.doctor()).filter((r) => r.check === 'tools');
      const of = (owner: string) => tools.filter((r) => r.service === owner).map((r) => `${r.status} ${r.message}`);
      assert.deepEqual(of('api'), ['ok sh found']);
      assert.deepEqual(of('cc'), ['warn cannot tell which program $CC runs (the shell expands it when the command runs); not checked']);
      assert.deepEqual(of('sourced'), ['warn cannot tell whether tl_missing_helper_17 exists: it runs `.`, which may define it']);
      assert.deepEqual(of('staged'), [
        'ok ./staged/app does not exist yet: it will be staged by the first run of web',
        'ok ./out/app does not exist yet: it will be built by the first run of web',
        'warn ./elsewhere/tool does not exist yet (built by a dependency?)',
      ]);
      assert.deepEqual(of('missing'), [`fail tl_missing_tool_17 not found on PATH (needed by "FOO='a b' tl_missing_tool_17 --flag")`]);
    } finally {
      await engine.dispose();
    }
  });
});
