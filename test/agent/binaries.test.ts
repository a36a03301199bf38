import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { readElf } from '../../src/engine/docker/context/elf.js';
import { agentBinaryFor } from '../../src/engine/live/image.js';
import { agentBinary } from './helpers.js';

// The agent goes into every live-mode image and ships in the .vsix: it must start in FROM scratch
// (static, no loader) on the platform it is named for, and stay small (issue 13: < 200 KB).
before(() => agentBinary()); // builds both architectures

describe('agent binaries', () => {
  for (const [platform, arch] of [['linux/amd64', 'x86_64'], ['linux/arm64', 'aarch64']] as const) {
    test(`${platform}: a static ${arch} executable under 200 KB`, async () => {
      const file = agentBinaryFor(platform);
      const elf = await readElf(file);
      assert.ok(elf, `${file} is not an ELF file`);
      assert.equal(elf.arch, arch);
      assert.equal(elf.kind, 'executable');
      assert.equal(elf.interpreter, undefined, 'no dynamic loader: it must start in FROM scratch');
      const { size } = await stat(file);
      assert.ok(size < 200_000, `${file} is ${size} bytes`);
    });
  }
});
