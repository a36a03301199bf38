import { z } from 'zod';
import { ConfigSchema } from './schema.js';

/** The JSON Schema editors use for tightloop.yaml (input side: defaults are optional). */
export function configJsonSchema(): string {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const document = {
    ...schema,
    $id: 'https://tightloop.dev/schema/tightloop.schema.json',
    title: 'tightloop.yaml',
    description: 'Tightloop workspace config: services to compile locally, stage, image, push and deploy.',
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
