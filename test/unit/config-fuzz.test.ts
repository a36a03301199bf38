import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/engine/config/load.js';
import { MAX_CONFIG_BYTES } from '../../src/engine/config/guard.js';
import { put, workspace } from '../helpers/workspace.js';
import { seeded } from '../helpers/seeded.js';

/**
 * Seeded config fuzzing: thousands of hostile or broken files, each must either load or be
 * refused with a ConfigError whose every issue has a line and a column — never a stack trace,
 * another exception type, or a hang. Reproduce a failure with FUZZ_SEED=<seed>.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const FILES = Number(process.env.FUZZ_FILES ?? 2000);

const VALID = `version: 1
kubernetes: { context: kind-dev, namespace: default }
services:
  api:
    watch: { paths: [src], ignore: ["target/**"] }
    compile:
      command: make api
      timeout: 5m
      env: { CC: gcc }
    stage: { dir: build, files: [{ from: out/api, to: api, mode: "0755" }] }
    image: { repository: localhost:5000/api, platform: linux/amd64, keep: 5 }
    deploy: { workload: deployment/api, container: api, readyTimeout: 2m, portForwards: ["8080:8080"] }
tasks:
  smoke: { command: ./smoke.sh, dependsOn: [api] }
`;

/** Field → hostile values (the classes of the issue: each must be refused with its position). */
const HOSTILE: [string, string[]][] = [
  ['      timeout: 5m', ['      timeout: 0s', '      timeout: 0', '      timeout: -1', '      timeout: 1e12', '      timeout: 100000h', '      timeout: soon', '      timeout: []']],
  ['mode: "0755"', ['mode: "7777"', 'mode: "4755"', 'mode: "0777"', 'mode: 755', 'mode: "999"', 'mode: ""', 'mode: {}']],
  ['portForwards: ["8080:8080"]', ['portForwards: ["99999:1"]', 'portForwards: ["0:0"]', 'portForwards: ["a:b"]', 'portForwards: [8080]', 'portForwards: "8080:8080"']],
  ['env: { CC: gcc }', ['env: { "A B": x }', 'env: { "": x }', 'env: { 1X: y }', 'env: { CC: [1] }', 'env: [CC]', 'env: { CC: "a\\0b" }']],
  ['to: api', ['to: "/"', 'to: "//"', 'to: "a\\0b"', 'to: ".."', 'to: "../x"', 'to: "."', 'to: ""', 'to: 7']],
  ['workload: deployment/api', ['workload: deployment/UPPER', 'workload: pod/api', 'workload: deployment/', 'workload: "deployment/a b"', 'workload: 3']],
  ['platform: linux/amd64', ['platform: windows/amd64', 'platform: linux/sparc', 'platform: amd64', 'platform: ""', 'platform: linux/AMD64']],
  ['keep: 5', ['keep: 1e12', 'keep: 0', 'keep: -3', 'keep: 2.5', 'keep: "5"', 'keep: .inf', 'keep: .nan']],
  ['  api:\n', ['  __proto__:\n', '  constructor:\n', '  "a b":\n', '  "":\n', `  ${'x'.repeat(300)}:\n`]],
  ['namespace: default', ['namespace: Default', 'namespace: "a_b"', 'namespace: ""']],
  ['ignore: ["target/**"]', [`ignore: ["${'a'.repeat(70_000)}"]`, 'ignore: [""]', 'ignore: [[]]']],
  ['dir: build', ['dir: ""', 'dir: "\\0"', 'dir: 5']],
  ['version: 1', ['version: 2', 'version: "1"', 'version: ~', '']],
];

type Case = { kind: string; bytes: Buffer; field?: string };

function generate(random: () => number, index: number): Case {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const text = (kind: string, t: string, field?: string): Case => ({ kind, bytes: Buffer.from(t, 'utf8'), field });
  const n = Math.floor(random() * 16);
  switch (index % 16) {
    case 0:
    case 1:
    case 2: {
      // One or two hostile values in an otherwise valid file.
      let t = VALID;
      for (let k = 0; k < 1 + (n % 2); k++) {
        const [from, to] = pick(HOSTILE);
        t = t.replace(from, pick(to));
      }
      return text('hostile-value', t);
    }
    case 3: {
      // Unknown keys (a few, or a flood near the size limit).
      const count = n === 0 ? 30_000 : 1 + n;
      const keys = Array.from({ length: count }, (_, k) => `    unknown${k}_${Math.floor(random() * 1e6)}: ${k}`).join('\n');
      return text('unknown-keys', VALID.replace('    compile:\n', `${keys}\n    compile:\n`));
    }
    case 4: {
      const key = pick(['api', 'smoke', 'version', 'command', 'timeout']);
      const t =
        key === 'api'
          ? VALID.replace('tasks:', '  api: {}\ntasks:')
          : key === 'smoke'
            ? `${VALID}  smoke: { command: x }\n`
            : key === 'version'
              ? `${VALID}version: 1\n`
              : VALID.replace(`      ${key}: `, `      ${key}: x\n      ${key}: `);
      return text('duplicate-key', t);
    }
    case 5: {
      // Alias bombs of growing fan-out, recursive and unresolved aliases.
      const fan = 5 + n;
      const levels = Array.from({ length: 6 }, (_, l) => `l${l}: &l${l} [${Array.from({ length: fan }, () => (l === 0 ? 'x' : `*l${l - 1}`)).join(', ')}]`).join('\n');
      const variants = [
        `${VALID}${levels}\n`,
        VALID.replace('env: { CC: gcc }', 'env: &e { CC: *e }'),
        VALID.replace('env: { CC: gcc }', 'env: *missing'),
        VALID.replace('  api:\n', '  api: &svc\n').replace('tasks:', '  other: *svc\ntasks:'),
        `anchors: &a\n  self: [*a]\n${VALID}`,
      ];
      return text('alias', pick(variants));
    }
    case 6: {
      // Deep nesting: flow brackets, flow maps, block indentation.
      const depth = pick([40, 200, 5_000, 60_000]);
      const variants = [
        VALID.replace('env: { CC: gcc }', `env: ${'['.repeat(depth)}${']'.repeat(depth)}`),
        VALID.replace('env: { CC: gcc }', `env: ${'{a: '.repeat(Math.min(depth, 20_000))}1${'}'.repeat(Math.min(depth, 20_000))}`),
        `${VALID}deep:\n${Array.from({ length: Math.min(depth, 300) }, (_, d) => `${' '.repeat(d + 1)}k${d}:`).join('\n')} 1\n`,
      ];
      return text('deep', pick(variants));
    }
    case 7: {
      // Non-UTF-8 bytes somewhere in the file.
      const bytes = Buffer.from(VALID, 'utf8');
      const at = Math.floor(random() * bytes.length);
      const bad = pick([[0xe9], [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf8], [0xe2, 0x82]]);
      return { kind: 'non-utf8', bytes: Buffer.concat([bytes.subarray(0, at), Buffer.from(bad), bytes.subarray(at)]) };
    }
    case 8: {
      // Over the size limit (rarely: cheap, but each costs an allocation).
      if (n > 1) return text('truncated', VALID.slice(0, Math.floor(random() * VALID.length)));
      return text('too-big', `${VALID}# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    }
    case 9:
    case 10: {
      // Byte-level mutations of the valid file: flips, deletions, duplications.
      const chars = [...VALID];
      for (let k = 0; k <= n; k++) {
        const at = Math.floor(random() * chars.length);
        const op = random();
        if (op < 0.4) chars[at] = pick([':', '[', ']', '{', '}', '-', ' ', '\t', '"', "'", '&', '*', '!', '|', '>', '#', '%', '@', '`', '\n', '?', ',']);
        else if (op < 0.7) chars.splice(at, 1 + Math.floor(random() * 8));
        else chars.splice(at, 0, ...chars.slice(at, at + 1 + Math.floor(random() * 20)));
      }
      return text('mutation', chars.join(''));
    }
    case 11: {
      // Wrong types anywhere: replace a value with another YAML type.
      const lines = VALID.split('\n');
      const at = 1 + Math.floor(random() * (lines.length - 2));
      const line = lines[at]!;
      const colon = line.indexOf(': ');
      if (colon > 0) lines[at] = `${line.slice(0, colon + 2)}${pick(['~', '[]', '{}', '123', 'true', '!!binary aGk=', '"x"', '-1', '.inf', '2001-12-14'])}`;
      return text('wrong-type', lines.join('\n'));
    }
    case 12:
      return text('env-reference', VALID.replace('make api', pick(['make ${env:NOPE_NOT_SET}', 'make ${env:}', 'make ${env:A B}', 'make ${env:HOME}'])));
    case 13:
      return text('special', pick(['', '---', '--- \n...\n', '[]', '"string"', '42', 'null', '%YAML 1.2\n---\n', '---\na: 1\n---\nb: 2\n', '!!map {}', '? [a]\n: b\n', '<<: *x\n', '\ufeffversion: 1\n']));
    case 14: {
      // Huge values: a long command, many services, many stage files.
      const variants = [
        VALID.replace('make api', 'x'.repeat(100_000)),
        `version: 1\nservices:\n${Array.from({ length: 100 + n * 20 }, (_, k) => `  s${k}: { dependsOn: [s${(k + 1) % (100 + n * 20)}] }`).join('\n')}\n`,
        VALID.replace('files: [{ from: out/api, to: api, mode: "0755" }]', `files: [${Array.from({ length: 400 }, (_, k) => `{ from: out/a${k}, to: a${k % 300} }`).join(', ')}]`),
      ];
      return text('huge-value', pick(variants));
    }
    default:
      return text('valid-ish', VALID.replace('make api', `make api-${n}`));
  }
}

describe('config fuzzing (seeded)', () => {
  it(`${FILES} generated files: loaded, or refused with every issue positioned; no stack trace, no hang`, async () => {
    const dir = await workspace({ 'src/main.c': '', 'smoke.sh': '' });
    const file = path.join(dir, 'tightloop.yaml');
    await put(dir, 'out/api', 'x');
    const random = seeded(SEED);
    const kinds = new Map<string, { refused: number; loaded: number; ms: number }>();
    let slowest = { ms: 0, kind: '' };
    for (let i = 0; i < FILES; i++) {
      const c = generate(random, i);
      await writeFile(file, c.bytes);
      const started = performance.now();
      let outcome: 'loaded' | 'refused';
      try {
        await loadConfig(file, { HOME: '/home/fuzz' });
        outcome = 'loaded';
      } catch (error) {
        const where = `case ${i} (${c.kind}, FUZZ_SEED=${SEED}): ${c.bytes.subarray(0, 300).toString('utf8')}`;
        assert.ok(error instanceof ConfigError, `${where}\nthrew ${(error as Error | undefined)?.stack}`);
        assert.ok(error.issues.length > 0, `${where}\nno issues`);
        for (const issue of error.issues) {
          assert.ok(issue.line >= 1 && issue.column >= 1, `${where}\nissue without a position: ${JSON.stringify(issue)}`);
          assert.equal(issue.file, file);
          assert.doesNotMatch(issue.message, /\n\s+at |Maximum call stack|Cannot read prop|is not a function|undefined/, `${where}\n${issue.message}`);
        }
        assert.ok(error.issues.length <= 101, `${where}\n${error.issues.length} issues`);
        outcome = 'refused';
      }
      const ms = performance.now() - started;
      if (ms > slowest.ms) slowest = { ms, kind: c.kind };
      // A hang guard, not a benchmark: far above the normal figure even on a loaded machine.
      assert.ok(ms < 10_000, `case ${i} (${c.kind}) took ${Math.round(ms)} ms`);
      const tally = kinds.get(c.kind) ?? { refused: 0, loaded: 0, ms: 0 };
      tally[outcome]++;
      tally.ms += Math.round(ms);
      kinds.set(c.kind, tally);
    }
    // Every class of hostile value must actually have been refused (the generator works).
    for (const kind of ['hostile-value', 'unknown-keys', 'duplicate-key', 'alias', 'deep', 'non-utf8', 'too-big', 'wrong-type']) {
      assert.ok((kinds.get(kind)?.refused ?? 0) > 0, `no ${kind} case was refused: ${JSON.stringify([...kinds])}`);
      if (kind !== 'wrong-type') assert.equal(kinds.get(kind)?.loaded ?? 0, 0, `a ${kind} case loaded: ${JSON.stringify([...kinds])}`);
    }
    assert.ok((kinds.get('valid-ish')?.loaded ?? 0) > 0, 'the valid base config must load');
    console.log(`config fuzz: ${FILES} files, slowest ${Math.round(slowest.ms)} ms (${slowest.kind}), ${JSON.stringify(Object.fromEntries(kinds))}`);
  });
});
