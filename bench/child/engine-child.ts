/**
 * An engine in its own process, for the suites that measure the process itself (CPU, RSS) or
 * must not share an event loop with the load generator. bench/lib/child.ts bundles this file with
 * esbuild and runs it with plain node (no tsx loader in the measured memory), the way the CLI
 * and the extension run bundled code.
 *
 *   node engine-child.mjs CONFIG_FILE [--integrations] [--initial]
 *
 * Parent → child (IPC): { cmd: 'save', files } | { cmd: 'idle', id } | { cmd: 'stop' }
 * Child → parent: { ev: 'ready' } | { ev: 'idle', id } | engine events reduced to plain data,
 * each stamped with `at` = high-resolution epoch ms.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { writeHeapSnapshot } from 'node:v8';
import { Engine, type EngineEvent } from '../../src/engine/index.js';
import { createIntegrations } from '../../src/engine/integrations.js';

export type ChildCommand =
  | { cmd: 'save'; files: string[] }
  | { cmd: 'idle'; id: number }
  /** process.memoryUsage(), after a full GC when `gc` (the child runs with --expose-gc). */
  | { cmd: 'mem'; id: number; gc: boolean }
  /** A V8 heap snapshot (after a full GC) written to `file`, for comparing retained objects. */
  | { cmd: 'snapshot'; id: number; file: string }
  /** A CPU profile of the next `durationMs` (node:inspector), written to `file`. */
  | { cmd: 'profile'; id: number; file: string; durationMs: number }
  | { cmd: 'stop' };
export type ChildMessage =
  | { ev: 'ready'; at: number }
  | { ev: 'idle'; id: number }
  | { ev: 'mem'; id: number; usage: NodeJS.MemoryUsage }
  | { ev: 'snapshot'; id: number; file: string }
  | { ev: 'profile'; id: number; file: string }
  | { ev: 'run-started'; runId: string; reason: string; at: number }
  | { ev: 'stage-started'; runId: string; stage: string; at: number }
  | { ev: 'stage-finished'; runId: string; stage: string; status: string; durationMs: number; detail?: string; at: number }
  | { ev: 'run-finished'; runId: string; status: string; error?: string; at: number }
  | { ev: 'warning'; message: string };

const at = () => performance.timeOrigin + performance.now();
const send = (message: ChildMessage): void => void process.send?.(message);

function forward(event: EngineEvent): void {
  switch (event.type) {
    case 'run-started':
      return send({ ev: 'run-started', runId: event.runId, reason: event.trigger.reason, at: at() });
    case 'stage-started':
      return send({ ev: 'stage-started', runId: event.runId, stage: event.stage, at: at() });
    case 'stage-finished': {
      const r = event.record;
      return send({ ev: 'stage-finished', runId: r.runId, stage: r.stage, status: r.status, durationMs: r.durationMs, ...(r.detail && { detail: r.detail }), at: at() });
    }
    case 'run-finished':
      return send({ ev: 'run-finished', runId: event.summary.runId, status: event.summary.status, ...(event.summary.error && { error: event.summary.error }), at: at() });
    case 'warning':
      return send({ ev: 'warning', message: event.message });
    default:
      return; // the other events do not time anything
  }
}

/** What the process does while idle, sampled by V8's profiler (open the file in DevTools → Performance). */
async function profile(file: string, durationMs: number): Promise<void> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(file, JSON.stringify(profile));
  session.disconnect();
}

async function main(): Promise<void> {
  const [configFile, ...flags] = process.argv.slice(2);
  if (!configFile) throw new Error('usage: engine-child CONFIG_FILE [--integrations] [--initial]');
  const engine = await Engine.create(configFile, flags.includes('--integrations') ? { stages: createIntegrations } : {});
  engine.on(forward);
  if (flags.includes('--initial')) await engine.run();
  await engine.startWatching();
  process.on('message', (message: ChildCommand) => {
    if (message.cmd === 'save') engine.notifySaved(message.files);
    if (message.cmd === 'idle') void engine.whenIdle().then(() => send({ ev: 'idle', id: message.id }));
    if (message.cmd === 'mem') {
      if (message.gc) (globalThis as { gc?: () => void }).gc?.();
      send({ ev: 'mem', id: message.id, usage: process.memoryUsage() });
    }
    if (message.cmd === 'snapshot') {
      (globalThis as { gc?: () => void }).gc?.();
      send({ ev: 'snapshot', id: message.id, file: writeHeapSnapshot(message.file) });
    }
    if (message.cmd === 'profile') void profile(message.file, message.durationMs).then(() => send({ ev: 'profile', id: message.id, file: message.file }));
    if (message.cmd === 'stop') void engine.dispose().then(() => process.exit(0));
  });
  send({ ev: 'ready', at: at() });
}

main().catch((error: Error) => {
  process.stderr.write(`engine-child: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
