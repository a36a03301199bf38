import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ProblemMatcher } from '../../src/engine/compile/problem-matchers.js';
import { runCommand } from '../../src/engine/compile/run-command.js';
import { StageError } from '../../src/engine/stages/stage.js';
import { sleep, until, workspace } from '../helpers/workspace.js';

/** Running, i.e. exists and is not a zombie (an exited process its parent has not reaped yet). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const spec = (command: string, cwd: string, extra: Partial<Parameters<typeof runCommand>[0]> = {}) => ({ command, cwd, env: {}, timeoutMs: 60_000, ...extra });

describe('runCommand (real processes)', () => {
  it('streams stdout and stderr lines and passes env and cwd', async () => {
    const dir = await workspace();
    const lines: string[] = [];
    await runCommand(spec('echo "out $GREETING"; pwd; echo err >&2', dir, { env: { GREETING: 'hi' } }), new AbortController().signal, (text, stream) => lines.push(`${stream}:${text}`));
    assert.deepEqual(lines.sort(), [`stdout:${dir}`, 'stdout:out hi', 'stderr:err'].sort());
  });

  it('reports a non-zero exit code with the last output lines as evidence', async () => {
    const dir = await workspace();
    await assert.rejects(runCommand(spec('echo building; echo "boom" >&2; exit 3', dir), new AbortController().signal, () => {}), (error: unknown) => {
      assert.ok(error instanceof StageError);
      assert.equal(error.message, '"echo building; echo "boom" >&2; exit 3" exited with code 3');
      assert.deepEqual(error.options.evidence, ['building', 'boom']);
      return true;
    });
  });

  it('fails with "timed out after …" and leaves no process behind', async () => {
    const dir = await workspace();
    const started = Date.now();
    await assert.rejects(
      runCommand(spec('echo $$ > shell.pid; sleep 30 & echo $! > child.pid; wait', dir, { timeoutMs: 300 }), new AbortController().signal, () => {}),
      /timed out after 300 ms and was stopped/,
    );
    assert.ok(Date.now() - started < 5000, 'the timeout must not wait for the command');
    for (const file of ['shell.pid', 'child.pid']) {
      const pid = Number(await readFile(path.join(dir, file), 'utf8'));
      assert.equal(alive(pid), false, `${file} (${pid}) survived`);
    }
  });

  it('cancel mid-compile kills the whole process tree, checked by PID', async () => {
    const dir = await workspace();
    const controller = new AbortController();
    // A shell that starts a child that starts a grandchild, all ignoring nothing but SIGKILL-able.
    const command = 'echo $$ > shell.pid; (sleep 40 & echo $! > grandchild.pid; wait) & echo $! > child.pid; sleep 40';
    const running = runCommand(spec(command, dir), controller.signal, () => {});
    await until(async () => (await readFile(path.join(dir, 'grandchild.pid'), 'utf8').catch(() => '')).trim() !== '', 5000, 'grandchild pid');
    const pids = await Promise.all(['shell.pid', 'child.pid', 'grandchild.pid'].map(async (f) => Number(await readFile(path.join(dir, f), 'utf8'))));
    assert.ok(pids.every(alive), 'all three processes run before the cancel');
    controller.abort(new Error('cancelled by user'));
    await assert.rejects(running, /cancelled/);
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} survived the cancel`);
  });

  it('records its process group before the command runs its first line (a SIGKILL at any moment leaves the record)', async () => {
    // The CLI was once killed right after the compile wrote a file but before Node recorded the
    // group: the next run found no record and left the orphans running.
    const dir = await workspace();
    const seen: string[] = [];
    for (let i = 0; i < 20; i++) {
      await runCommand(spec('test -f .tightloop/processes/$$.json && echo recorded || echo missing', dir), new AbortController().signal, (text) => seen.push(text), { root: dir, name: 'api' });
    }
    assert.deepEqual(seen, Array(20).fill('recorded'));
  });

  it('keeps shell line numbers and exit codes of the command itself', async () => {
    const dir = await workspace();
    await assert.rejects(runCommand(spec('true\nno-such-tool-xyz', dir), new AbortController().signal, () => {}), (error: unknown) => {
      assert.ok(error instanceof StageError);
      assert.match(String(error.options.evidence), /2: no-such-tool-xyz: not found/);
      return true;
    });
  });

  it('escalates to SIGKILL when a command ignores SIGTERM', async () => {
    const dir = await workspace();
    const controller = new AbortController();
    const running = runCommand(spec("trap '' TERM; echo $$ > shell.pid; sleep 40 & echo $! > child.pid; while true; do sleep 0.05; done", dir, { killGraceMs: 200 }), controller.signal, () => {});
    await until(async () => (await readFile(path.join(dir, 'child.pid'), 'utf8').catch(() => '')).trim() !== '', 5000, 'child pid');
    const shell = Number(await readFile(path.join(dir, 'shell.pid'), 'utf8'));
    controller.abort();
    await assert.rejects(running, /cancelled/);
    await sleep(50);
    assert.equal(alive(shell), false);
  });
});

describe('problem matchers', () => {
  it('parses gcc/clang', () => {
    const m = new ProblemMatcher('gcc', '/ws');
    m.feed("src/main.c:12:5: error: 'x' undeclared (first use in this function)");
    m.feed('src/main.c:3:1: warning: unused variable [-Wunused]');
    m.feed('/abs/lib.h:1:2: fatal error: foo.h: No such file or directory');
    assert.deepEqual(m.diagnostics.map((d) => [d.file, d.line, d.column, d.severity]), [
      ['/ws/src/main.c', 12, 5, 'error'],
      ['/ws/src/main.c', 3, 1, 'warning'],
      ['/abs/lib.h', 1, 2, 'error'],
    ]);
  });

  it('parses rustc across its two-line format, ignoring summary lines', () => {
    const m = new ProblemMatcher('rustc', '/ws');
    for (const line of ['error[E0425]: cannot find value `y` in this scope', ' --> src/main.rs:3:13', '  |', 'warning: unused import', '  --> src/lib.rs:1:5', 'error: could not compile `api` due to 1 previous error']) m.feed(line);
    assert.deepEqual(m.diagnostics, [
      { file: '/ws/src/main.rs', line: 3, column: 13, severity: 'error', message: 'cannot find value `y` in this scope', code: 'E0425' },
      { file: '/ws/src/lib.rs', line: 1, column: 5, severity: 'warning', message: 'unused import' },
    ]);
  });

  it('parses go and tsc', () => {
    const go = new ProblemMatcher('go', '/ws');
    go.feed('./main.go:7:2: undefined: fmt.Printn');
    assert.deepEqual(go.diagnostics[0], { file: '/ws/main.go', line: 7, column: 2, severity: 'error', message: 'undefined: fmt.Printn' });
    const tsc = new ProblemMatcher('tsc', '/ws');
    tsc.feed("src/a.ts(4,10): error TS2304: Cannot find name 'foo'.");
    assert.deepEqual(tsc.diagnostics[0], { file: '/ws/src/a.ts', line: 4, column: 10, severity: 'error', message: "Cannot find name 'foo'.", code: 'TS2304' });
  });
});
