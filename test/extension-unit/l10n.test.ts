import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { format } from '../../src/extension/l10n.js';
import { extractMessages } from '../../src/extension/l10n-extract.js';

const read = (file: string) => JSON.parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')) as Record<string, unknown>;

describe('localizable strings', () => {
  it('l10n/bundle.l10n.json holds every l10n.t message (run npm run gen:l10n after changing one)', () => {
    const { messages, problems } = extractMessages(fileURLToPath(new URL('../../src/extension', import.meta.url)));
    assert.deepEqual(problems, []);
    assert.deepEqual(read('l10n/bundle.l10n.json'), messages);
  });

  it('every %key% in package.json is in package.nls.json, and every manifest title goes through one', () => {
    const manifest = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const nls = read('package.nls.json');
    const used = [...manifest.matchAll(/"%([^%"]+)%"/g)].map((m) => m[1]!);
    assert.ok(used.length > 40, `only ${used.length} keys`);
    for (const key of used) assert.ok(typeof nls[key] === 'string', `package.nls.json lacks ${key}`);
    const pkg = JSON.parse(manifest) as { l10n: string; contributes: Record<string, unknown> };
    assert.equal(pkg.l10n, './l10n');
    const visible: string[] = [];
    const walk = (value: unknown, key = ''): void => {
      if (typeof value === 'string' && ['title', 'description', 'markdownDescription', 'name', 'contents', 'contextualTitle', 'category'].includes(key)) visible.push(value);
      else if (Array.isArray(value)) value.forEach((v) => walk(v));
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, k);
    };
    walk(pkg.contributes);
    assert.deepEqual(visible.filter((v) => !/^%[^%]+%$/.test(v)), []);
  });

  it('fills {0}-style placeholders the way vscode.l10n.t does', () => {
    assert.equal(format('failed at {0} · {1}', 'compile', '800 ms'), 'failed at compile · 800 ms');
    assert.equal(format('{1} before {0}', 'a', 'b'), 'b before a');
    assert.equal(format('left as is: {2}', 'a'), 'left as is: {2}');
  });
});
