/**
 * A separate process writing `.tightloop/history.jsonl` through the real History (for the
 * cross-process history test). `append DIR NAME COUNT LIMIT SEED`: COUNT runs with seeded pauses.
 * `tear DIR AFTER`: once a writer appended its run number AFTER, takes the history lock, writes
 * half a line and dies by SIGKILL holding it, as a Tightloop killed mid-append would.
 */
import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { acquireLock } from '../../src/engine/history/file-lock.js';
import { History } from '../../src/engine/history/history.js';
import type { RunSummary } from '../../src/engine/types.js';
import { seeded } from './seeded.js';

export const TORN = '{"service":"torn","runId":"half';

export function historyRun(service: string, i: number): RunSummary {
  return {
    service,
    runId: `${service}-${i}`,
    status: 'ok',
    startedAt: i,
    durationMs: 1,
    trigger: { reason: 'manual', changedFiles: [] },
    records: [{ service, runId: `${service}-${i}`, stage: 'compile', startedAt: i, durationMs: 1, status: 'ok' }],
  };
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const [mode, dir] = process.argv.slice(2) as [string, string];
  if (mode === 'append') {
    const [, , name, count, limit, seed] = process.argv.slice(2) as string[];
    const random = seeded(Number(seed));
    const history = new History(dir, Number(limit), (message) => process.stderr.write(`${message}\n`));
    for (let i = 0; i < Number(count); i++) {
      await history.append(historyRun(name!, i));
      if (random() < 0.7) await sleep(Math.floor(random() * 20));
    }
  } else if (mode === 'tear') {
    // Strikes once some writer has appended run number AFTER (a state, whatever the load).
    const after = Number(process.argv[4]);
    const file = path.join(dir, '.tightloop', 'history.jsonl');
    const reached = async () => [...(await readFile(file, 'utf8').catch(() => '')).matchAll(/"runId":"w\d-(\d+)"/g)].some((m) => Number(m[1]) >= after);
    while (!(await reached())) await sleep(2);
    const lock = await acquireLock(path.join(dir, '.tightloop', 'history.lock'), {
      onStale: (owner) => process.stderr.write(`removed a lock left by a process that ended (${owner})\n`), // stderr is a pipe: written at once
    });
    if (!lock) throw new Error('lock not taken');
    // As History writes a line (after ending a torn one), cut short by the kill.
    const text = await readFile(file, 'utf8').catch(() => '');
    await appendFile(file, (text && !text.endsWith('\n') ? '\n' : '') + TORN);
    process.kill(process.pid, 'SIGKILL');
  }
}

if (process.argv[1] === import.meta.filename) await main();
