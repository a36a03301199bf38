// Writes schema/tightloop.schema.json and docs/config-reference.md from the zod schema
// (the test suite fails if either drifts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { configJsonSchema } from '../src/engine/config/json-schema.js';
import { configReferenceMarkdown } from '../src/engine/config/reference-doc.js';

writeFileSync(new URL('../schema/tightloop.schema.json', import.meta.url), configJsonSchema());
mkdirSync(new URL('../docs/', import.meta.url), { recursive: true });
writeFileSync(new URL('../docs/config-reference.md', import.meta.url), configReferenceMarkdown());
console.log('wrote schema/tightloop.schema.json and docs/config-reference.md');
