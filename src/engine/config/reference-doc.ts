import { z } from 'zod';
import { ConfigSchema } from './schema.js';

type JsonSchema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  required?: string[];
  pattern?: string;
};

/** docs/config-reference.md: one row per field, generated from the zod schema's descriptions. */
export function configReferenceMarkdown(): string {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const rows: string[] = [];
  walk(schema, '', rows, new Set(schema.required ?? []));
  return [
    '# tightloop.yaml reference',
    '',
    '<!-- Generated from src/engine/config/schema.ts by `npm run gen:schema`; a test fails when it drifts. -->',
    '',
    '`<name>` stands for a service or task name. Relative paths resolve against the folder of tightloop.yaml;',
    '`${env:NAME}` in any string is replaced by that environment variable (an unset one is an error); `${env:NAME:-default}` uses the default when it is unset or empty.',
    'In `compile.command` and `tasks.<name>.command` it is not pasted into the shell text: it becomes `"${TIGHTLOOP_ENV_NAME}"` and the',
    'value is passed as that environment variable, so the shell sees it as one word and never runs what it contains.',
    '',
    '| field | type | default | description |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

function walk(node: JsonSchema, path: string, rows: string[], required: Set<string>): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const fieldPath = path ? `${path}.${key}` : key;
    rows.push(row(fieldPath, child, required.has(key)));
    descend(child, fieldPath, rows);
  }
}

function descend(node: JsonSchema, path: string, rows: string[]): void {
  if (node.properties) walk(node, path, rows, new Set(node.required ?? []));
  else if (node.additionalProperties && typeof node.additionalProperties === 'object' && node.additionalProperties.properties) {
    walk(node.additionalProperties, `${path}.<name>`, rows, new Set(node.additionalProperties.required ?? []));
  } else if (node.items?.properties) walk(node.items, `${path}[]`, rows, new Set(node.items.required ?? []));
}

function row(path: string, node: JsonSchema, required: boolean): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const fallback = node.default === undefined ? (required ? '**required**' : '') : `\`${JSON.stringify(node.default)}\``;
  return `| \`${path}\` | ${cell(typeName(node))} | ${cell(fallback)} | ${cell(node.description ?? '')} |`;
}

function typeName(node: JsonSchema): string {
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(' | ');
  if (node.anyOf) return node.anyOf.map(typeName).join(' or ');
  if (node.type === 'array') return `list of ${node.items ? typeName(node.items) : 'any'}`;
  if (node.type === 'object' && node.additionalProperties && typeof node.additionalProperties === 'object' && !node.properties) {
    return node.additionalProperties.properties ? 'map of name → object' : `map of ${typeName(node.additionalProperties)}`;
  }
  return Array.isArray(node.type) ? node.type.join(' or ') : (node.type ?? 'any');
}
