import { isAlias, isCollection, isMap, isPair, isScalar, type Document, type LineCounter, type Node } from 'yaml';
import { formatBytes } from '../../shared/format.js';

/**
 * Defences against hostile or broken config files, run before anything else looks at the
 * content: a size limit, strict UTF-8, and a walk over the YAML document that refuses what
 * would otherwise surface as a stack overflow, an out-of-memory crash or a message without a
 * position (alias bombs, recursive or unresolved aliases, deep nesting, duplicate keys,
 * `__proto__` keys). Every problem carries the offset of the node that causes it.
 */

/**
 * Configs are hand-written and small (a large one is a few KiB); anything bigger is refused
 * before parsing, so parsing and validation stay well under a second even for hostile content.
 */
export const MAX_CONFIG_BYTES = 256 * 1024;
const LIMIT_TEXT = `config files are limited to 256 KiB (${MAX_CONFIG_BYTES} bytes)`;
/** Deeper than any real config (the schema's deepest field is 6 levels down). */
export const MAX_DEPTH = 32;
/** Aliases and their expansions beyond this count are treated as an alias bomb. */
export const MAX_ALIAS_NODES = 10_000;
/** Issues listed per file; the rest are counted, so a flood of errors cannot stall the editor. */
export const MAX_ISSUES = 100;

/** Keys that would turn into prototype mutations in plain JavaScript objects. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface GuardProblem {
  /** Offset into the text (characters). */
  offset: number;
  end?: number;
  path: PropertyKey[];
  message: string;
}

/** Size first (so a 50 MB file costs nothing), then strict UTF-8 with the first bad byte's position. */
export function checkBytes(bytes: Uint8Array): { problem?: { line: number; column: number; message: string }; text?: string } {
  if (bytes.length > MAX_CONFIG_BYTES) {
    return { problem: { line: 1, column: 1, message: `the file is ${formatBytes(bytes.length)}; ${LIMIT_TEXT}` } };
  }
  try {
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes) };
  } catch {
    const offset = firstInvalidUtf8(bytes);
    const before = new TextDecoder('utf-8').decode(bytes.subarray(0, offset));
    const lineStart = before.lastIndexOf('\n') + 1;
    const line = before.split('\n').length;
    const hex = bytes[offset]!.toString(16).padStart(2, '0');
    return { problem: { line, column: before.length - lineStart + 1, message: `invalid UTF-8: byte 0x${hex} at offset ${offset}; save the file as UTF-8` } };
  }
}

/** A string already decoded (editor buffer): the same size limit. */
export function checkTextSize(text: string): string | undefined {
  // Cheap upper bound first: UTF-8 needs at most 3 bytes per UTF-16 unit.
  if (text.length * 3 <= MAX_CONFIG_BYTES) return undefined;
  const size = Buffer.byteLength(text, 'utf8');
  return size > MAX_CONFIG_BYTES ? `the file is ${formatBytes(size)}; ${LIMIT_TEXT}` : undefined;
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const length = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (length === 0 || i + length > bytes.length) return i;
    for (let k = 1; k < length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    // Overlongs and surrogates (the decoder rejects them too): point at their lead byte.
    const second = bytes[i + 1]!;
    if ((b === 0xe0 && second < 0xa0) || (b === 0xed && second > 0x9f) || (b === 0xf0 && second < 0x90) || (b === 0xf4 && second > 0x8f)) return i;
    i += length;
  }
  return Math.max(0, bytes.length - 1);
}

/**
 * Flow collections nested deeper than the limit, found by a scan of the text: the YAML parser
 * itself recurses per level and takes seconds to fail on thousands of `[`. Quoted scalars and
 * comments are skipped; returns the offset of the first bracket too deep.
 */
export function deepFlowNesting(text: string): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[' || c === '{') {
      if (++depth > MAX_DEPTH) return i;
    } else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
    else if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === "'" && (i === 0 || /[\s[{,:]/.test(text[i - 1]!))) {
      for (i++; i < text.length && text[i] !== "'"; i++);
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i < text.length && text[i] !== '\n') i++;
    }
  }
  return undefined;
}

interface Frame {
  node: unknown;
  path: PropertyKey[];
  depth: number;
  /** Anchors of the enclosing nodes: an alias to one of them is recursive. */
  ancestors: readonly string[];
}

/**
 * Walks the document iteratively (a deep file must not overflow the stack here either), in
 * document order, so an alias before its anchor is found as unresolved just like YAML says.
 */
export function checkDocument(doc: Document, lines: LineCounter): GuardProblem[] {
  const problems: GuardProblem[] = [];
  const anchors = new Map<string, { node: Node; size: number }>();
  let aliasNodes = 0;
  let bombReported = false;
  const stack: Frame[] = [{ node: doc.contents, path: [], depth: 0, ancestors: [] }];
  while (stack.length > 0 && problems.length < MAX_ISSUES) {
    const { node, path, depth, ancestors } = stack.pop()!;
    if (!node || typeof node !== 'object') continue;
    const offset = (node as Node).range?.[0] ?? 0;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (ancestors.includes(node.source)) {
        problems.push({ offset, path, message: `YAML alias *${node.source} refers to a node that contains it (a recursive alias)` });
      } else if (!target) {
        problems.push({ offset, path, message: `YAML alias *${node.source} has no anchor &${node.source} before it` });
      } else if (!bombReported) {
        aliasNodes += target.size;
        if (aliasNodes > MAX_ALIAS_NODES) {
          bombReported = true;
          problems.push({ offset, path, message: `YAML aliases expand to more than ${MAX_ALIAS_NODES} nodes (an alias bomb); write the values out instead` });
        }
      }
      continue;
    }
    if (depth > MAX_DEPTH) {
      problems.push({ offset, path, message: `nested more than ${MAX_DEPTH} levels deep` });
      continue; // one report per branch, not one per level
    }
    const anchor = (node as Node).anchor;
    const inner = anchor ? [...ancestors, anchor] : ancestors;
    if (anchor) anchors.set(anchor, { node: node as Node, size: sizeOf(node as Node, anchors) });
    if (isScalar(node) && typeof node.value === 'string' && node.value.includes('\0')) {
      problems.push({ offset, path, message: 'contains a NUL character (\\0), which no path, name or command may hold' });
    }
    if (!isCollection(node)) continue;
    const children: Frame[] = [];
    if (isMap(node)) {
      const seen = new Map<string, number>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as Node | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
        const keyOffset = keyNode?.range?.[0] ?? offset;
        if (key !== undefined) {
          if (FORBIDDEN_KEYS.has(key)) problems.push({ offset: keyOffset, end: keyNode?.range?.[1], path: [...path, key], message: `"${key}" cannot be used as a name or key` });
          const first = seen.get(key);
          if (first !== undefined) {
            problems.push({ offset: keyOffset, end: keyNode?.range?.[1], path: [...path, key], message: `duplicate key "${key}" (first at line ${lines.linePos(first).line}); each key may appear once` });
          } else seen.set(key, keyOffset);
        } else if (keyNode && isCollection(keyNode)) {
          problems.push({ offset: keyOffset, path, message: 'keys must be plain strings, not lists or mappings' });
        }
        children.push({ node: pair.value, path: [...path, key ?? '?'], depth: depth + 1, ancestors: inner });
      }
    } else {
      node.items.forEach((item, i) => children.push({ node: item, path: [...path, i], depth: depth + 1, ancestors: inner }));
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return problems;
}

/** Node count of an anchored value (aliases inside count as what they expand to), bounded. */
function sizeOf(root: Node, anchors: Map<string, { size: number }>): number {
  let size = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0 && size <= MAX_ALIAS_NODES) {
    const node = stack.pop();
    size++;
    if (isAlias(node)) size += anchors.get(node.source)?.size ?? 0;
    else if (isPair(node)) stack.push(node.key, node.value);
    else if (isCollection(node)) stack.push(...node.items);
  }
  return size;
}

/** The path of the innermost map entry or list item containing `offset` (for YAML syntax errors). */
export function pathAt(doc: Document, offset: number): PropertyKey[] {
  const path: PropertyKey[] = [];
  let node: unknown = doc.contents;
  for (let depth = 0; depth <= MAX_DEPTH && isCollection(node); depth++) {
    let next: unknown;
    if (isMap(node)) {
      for (const pair of node.items) {
        const start = (pair.key as Node | null)?.range?.[0];
        const end = (pair.value as Node | null)?.range?.[2] ?? (pair.key as Node | null)?.range?.[2];
        if (start !== undefined && end !== undefined && start <= offset && offset <= end) {
          path.push(isScalar(pair.key) ? String(pair.key.value) : '?');
          next = pair.value;
          break;
        }
      }
    } else {
      node.items.forEach((item, i) => {
        const range = (item as Node | null)?.range;
        if (range && range[0] <= offset && offset <= range[2]) {
          path.push(i);
          next = item;
        }
      });
    }
    if (next === undefined) break;
    node = next;
  }
  return path;
}

/** First `MAX_ISSUES` issues (sorted by the caller), and one line counting the rest. */
export function capIssues<T extends { message: string }>(issues: T[], more: (hidden: number) => T): T[] {
  if (issues.length <= MAX_ISSUES) return issues;
  return [...issues.slice(0, MAX_ISSUES), more(issues.length - MAX_ISSUES)];
}


/** zod's "Invalid input: expected record, received undefined" means a required field is missing. */
export function plainZodMessage(message: string): string {
  const missing = /^Invalid input: expected (\w+), received undefined$/.exec(message);
  return missing ? `required field is missing (expected ${missing[1] === 'record' ? 'a mapping' : missing[1]})` : message;
}
