import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { until, workspace } from '../helpers/workspace.js';

const BIN = path.resolve('src/cli/bin.ts');
const TSX = import.meta.resolve('tsx');

/**
 * The compile starts grandchildren (one of them would write a build output much later) and
 * records every pid; with `slow` absent it builds at once, so the next run can finish.
 */
const CONFIG = `version: 1
services:
  api:
    compile:
      command: |
        if [ -f slow ]; then
          echo $$ > pids.tmp
          (sleep 300; echo late > out/late) & echo $! >> pids.tmp
          sh -c 'sleep 300' & echo $! >> pids.tmp
          mv pids.tmp pids
          wait
        else
          mkdir -p out && echo fresh > out/api
        fi
    stage: { dir: staged, files: [{ from: out/api, to: api }] }
`;

/** Alive and not a zombie (an orphan's zombie may wait for a reaper; it runs nothing). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out[path.relative(dir, path.join(entry.parentPath, entry.name))] = await readFile(path.join(entry.parentPath, entry.name), 'utf8');
  }
  return out;
}

function start(command: 'run' | 'watch', cwd: string) {
  const child = spawn(process.execPath, ['--import', TSX, BIN, command, '--json'], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

async function prepared() {
  // The staging folder holds a good artifact from an earlier run; `slow` makes the compile hang.
  const dir = await workspace({ 'tightloop.yaml': CONFIG, 'staged/api': 'earlier\n', slow: '' });
  return { dir, staged: await snapshot(path.join(dir, 'staged')) };
}

async function midCompile(command: 'run' | 'watch', dir: string) {
  const cli = start(command, dir);
  await until(() => existsSync(path.join(dir, 'pids')), 120_000, 'the compile and its grandchildren to start');
  const pids = readFileSync(path.join(dir, 'pids'), 'utf8').trim().split('\n').map(Number);
  assert.equal(pids.length, 3);
  assert.ok(pids.every(running), 'the compile runs');
  return { cli, pids };
}

/** One file per command (run, watch): each spawns real CLIs, slow on a loaded machine. */
export function interruptSuite(command: 'run' | 'watch'): void {
  describe(`interrupts of \`${command}\` leave no process behind`, () => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      it(`${signal} of \`${command}\` mid-compile: exits 130 after stopping the compile's whole process group`, async () => {
        const { dir, staged } = await prepared();
        const { cli, pids } = await midCompile(command, dir);
        cli.child.kill(signal);
        const { code } = await cli.exited;
        assert.equal(code, 130, JSON.stringify(cli.output()));
        assert.deepEqual(pids.filter(running), [], 'no process of the compile is left');
        assert.deepEqual(await snapshot(path.join(dir, 'staged')), staged, 'the staging folder is unchanged');
        const events = cli.output().stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; summary?: { status: string } });
        assert.equal(events.filter((e) => e.type === 'run-finished').at(-1)?.summary?.status, 'cancelled');
        assert.deepEqual(await readdir(path.join(dir, '.tightloop', 'processes')), [], 'no process group stays recorded');
      });
    }

    it(`SIGKILL of \`${command}\` mid-compile: the next run reports and stops the leftovers`, async () => {
      const { dir, staged } = await prepared();
      const { cli, pids } = await midCompile(command, dir);
      cli.child.kill('SIGKILL');
      await cli.exited;
      assert.ok(pids.some(running), 'SIGKILL cannot stop anything: the compile is orphaned');
      assert.deepEqual(await snapshot(path.join(dir, 'staged')), staged);
      // Evidence for a failure below: what the killed CLI left recorded, and what still ran.
      const recordsDir = path.join(dir, '.tightloop', 'processes');
      const records = existsSync(recordsDir) ? (await readdir(recordsDir)).map((f) => readFileSync(path.join(recordsDir, f), 'utf8')) : [];
      const evidence = () => `records before the next run: ${JSON.stringify(records)}; compile pids ${JSON.stringify(pids)} running: ${JSON.stringify(pids.filter(running))}`;
      assert.equal(records.length, 1, `the killed run recorded its compile's process group; ${evidence()}`);
      await rm(path.join(dir, 'slow'));
      const next = spawnSync(process.execPath, ['--import', TSX, BIN, 'run'], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
      assert.equal(next.status, 0, next.stdout + next.stderr);
      assert.match(next.stdout, /warning: stopped leftover process group \d+ of api \(".*"\), started by a Tightloop process that ended without stopping it/, `${next.stdout}${next.stderr}\n${evidence()}`);
      assert.deepEqual(pids.filter(running), [], 'the leftovers are gone');
      assert.equal(existsSync(path.join(dir, 'out', 'late')), false, 'the orphan never wrote its late output');
      assert.equal(readFileSync(path.join(dir, 'staged', 'api'), 'utf8'), 'fresh\n');
    });
  });
}
