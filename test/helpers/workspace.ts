import { rmSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { parseConfigText } from '../../src/engine/config/load.js';
import type { ResolvedConfig } from '../../src/engine/config/resolved.js';
import { Engine } from '../../src/engine/engine.js';
import type { StageSet } from '../../src/engine/stages/stage.js';
import type { EngineEvent } from '../../src/engine/types.js';

/**
 * A throw-away workspace folder with files. Removed when the test process exits, i.e. after
 * every engine using it was disposed (an `after` hook could run before the engine's).
 */
export async function workspace(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tightloop-test-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) await put(dir, name, content);
  return dir;
}

export async function put(dir: string, name: string, content: string | Buffer): Promise<string> {
  const file = path.join(dir, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  return file;
}

/** Parses a config written into `dir`; fails the test with every issue if it is invalid. */
export async function configIn(dir: string, yaml: string): Promise<ResolvedConfig> {
  const file = await put(dir, 'tightloop.yaml', yaml);
  const { config, issues } = parseConfigText(yaml, file);
  if (!config) throw new Error(`test config invalid:\n${issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`).join('\n')}`);
  return config;
}

/** An engine plus every event it emitted, in order. */
export async function engineIn(dir: string, yaml: string, stages: StageSet = {}) {
  const engine = Engine.fromConfig(await configIn(dir, yaml), stages);
  const events: EngineEvent[] = [];
  engine.on((e) => events.push(e));
  after(() => engine.dispose());
  return { engine, events };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` is true or fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
