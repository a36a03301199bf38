import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResolvedService } from '../config/resolved.js';
import { AGENT_PATH } from './protocol.js';

type Live = NonNullable<ResolvedService['live']>;

/**
 * The ENTRYPOINT of a live-mode image: the agent as PID 1, told the sync targets (the only paths a
 * sync may write) and the restart grace, running the image's own entrypoint; CMD stays as it is
 * and lands after it, exactly as it would without the agent.
 */
export function liveEntrypoint(live: Live, entrypoint: readonly string[] | undefined): string[] {
  return [AGENT_PATH, 'run', ...live.sync.flatMap((m) => ['--target', m.to]), '--grace', String(live.graceMs), '--', ...(entrypoint ?? [])];
}

/** Architecture of an image platform ("linux/amd64", "linux/arm64/v8") the agent is built for. */
export function agentArch(platform: string): 'amd64' | 'arm64' | undefined {
  const [os, arch] = platform.split('/');
  if (os !== 'linux') return undefined;
  return arch === 'amd64' || arch === 'arm64' ? arch : undefined;
}

/**
 * The agent binary for a platform: next to the bundle (dist/agent/ in the .vsix and the CLI) or,
 * running from source, in the repository's dist/agent/ (scripts/build-agent.sh).
 */
export function agentBinaryFor(platform: string): string {
  const arch = agentArch(platform);
  if (!arch) throw new Error(`live update has no agent for platform ${platform} (only linux/amd64 and linux/arm64)`);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const name = `agent-linux-${arch}`;
  const candidates = [path.join(here, 'agent', name), path.resolve(here, '../../../dist/agent', name)];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`the live-update agent ${name} is missing (looked in ${candidates.join(', ')}); run scripts/build-agent.sh`);
  return found;
}
