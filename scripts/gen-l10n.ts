// Writes l10n/bundle.l10n.json from every l10n.t('…') call in src/extension (a test fails if it drifts).
// A translation is a copy of that file as l10n/bundle.l10n.<locale>.json with the values translated.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extractMessages } from '../src/extension/l10n-extract.js';

const { messages, problems } = extractMessages(fileURLToPath(new URL('../src/extension', import.meta.url)));
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
writeFileSync(new URL('../l10n/bundle.l10n.json', import.meta.url), `${JSON.stringify(messages, null, 2)}\n`);
console.log(`wrote l10n/bundle.l10n.json (${Object.keys(messages).length} messages)`);
