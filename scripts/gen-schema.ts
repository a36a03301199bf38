// Writes schema/tightloop.schema.json from the zod schema (the test suite fails if it drifts).
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../src/engine/config/json-schema.js';

writeFileSync(new URL('../schema/tightloop.schema.json', import.meta.url), configJsonSchema());
console.log('wrote schema/tightloop.schema.json');
