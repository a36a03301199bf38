import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ResolvedService } from '../config/resolved.js';
import type { LayerRecipe } from '../docker/assembly/layers.js';
import type { DirectSpec } from '../docker/assembly/spec.js';
import { agentBinaryFor, liveEntrypoint } from './image.js';
import { AGENT_PATH } from './protocol.js';

type Live = NonNullable<ResolvedService['live']>;

/** What live mode changes in an image: one more layer, the wrapped entrypoint, and so the tag. */
export interface LiveImageChange {
  /** The image's metadata with the agent as entrypoint (CMD unchanged). */
  spec: DirectSpec;
  /** `/.tightloop/agent`, one layer of its own (unchanged agent → the registry already has it). */
  layer: LayerRecipe;
  /** Mixed into the content tag: the agent's bytes and the entrypoint, so a live image never shares a tag with a plain one. */
  tagSalt: string;
}

/** The direct path's image in live mode (issue 13 item 1). */
export function liveImageChange(live: Live, platform: string, spec: DirectSpec): LiveImageChange {
  const agent = agentBinaryFor(platform);
  const bytes = readFileSync(agent);
  const entrypoint = liveEntrypoint(live, spec.entrypoint);
  const dir = AGENT_PATH.slice(1, AGENT_PATH.lastIndexOf('/'));
  return {
    spec: { ...spec, entrypoint },
    layer: {
      createdBy: `COPY tightloop live-update agent ${AGENT_PATH}`,
      entries: [
        { name: dir, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 },
        { name: AGENT_PATH.slice(1), type: 'file', mode: 0o755, uid: 0, gid: 0, size: bytes.length, abs: agent },
      ],
    },
    tagSalt: liveTagSalt(bytes, entrypoint),
  };
}

export function liveTagSalt(agent: Buffer, entrypoint: readonly string[]): string {
  return createHash('sha256').update(agent).update('\0').update(JSON.stringify(entrypoint)).digest('hex');
}
