import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/engine/config/load.js';
import { workspace } from '../helpers/workspace.js';

const CYCLE = [
  'version: 1',
  'services:',
  '  api:',
  '    dependsOn: [web]',
  '  web:',
  '    dependsOn: [worker]',
  '  worker:',
  '    dependsOn: [api]',
  '',
].join('\n');

async function cycleIssues(recentEdits?: number[]): Promise<string[]> {
  const dir = await workspace();
  return parseConfigText(CYCLE, path.join(dir, 'tightloop.yaml'), {}, { recentEdits }).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
}

describe('dependency cycles', () => {
  it('are reported on every dependsOn entry of the cycle, naming the one that closes it', async () => {
    assert.deepEqual(await cycleIssues(), [
      '4:17 services.api.dependsOn.0: dependency cycle: api → web → worker → api (closed by services.worker.dependsOn.0)',
      '6:17 services.web.dependsOn.0: dependency cycle: web → worker → api → web (closed by services.worker.dependsOn.0)',
      '8:17 services.worker.dependsOn.0: dependency cycle: worker → api → web → worker (this entry closes it)',
    ]);
  });

  it('name the most recently edited entry as the one that closed it, when the editor says', async () => {
    // The user just added `web` to api's dependsOn (line 4); an older edit was on line 8.
    assert.deepEqual(await cycleIssues([4, 8]), [
      '4:17 services.api.dependsOn.0: dependency cycle: api → web → worker → api (this entry closes it)',
      '6:17 services.web.dependsOn.0: dependency cycle: web → worker → api → web (closed by services.api.dependsOn.0)',
      '8:17 services.worker.dependsOn.0: dependency cycle: worker → api → web → worker (closed by services.api.dependsOn.0)',
    ]);
  });
});
