import type { ConfigIssue, Diagnostic } from '../../engine/types.js';

/** 0-based editor range. */
export interface Span {
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
}

/** 0-based line/column of a character offset (\n, \r\n both count as one line break). */
export function offsetToPosition(text: string, offset: number): { line: number; column: number } {
  const clamped = Math.max(0, Math.min(offset, text.length));
  let line = 0;
  let lineStart = 0;
  for (let i = 0; i < clamped; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: clamped - lineStart };
}

/**
 * Where a config problem goes in the editor. The loader gives a byte range (the offending node)
 * or a 1-based line/column. A node spanning several lines (a whole mapping, for a missing field)
 * is cut to its first line: a squiggle over twenty lines helps nobody.
 */
export function configIssueSpan(issue: ConfigIssue, text: string): Span {
  if (issue.range) {
    const start = offsetToPosition(text, issue.range[0]);
    const end = offsetToPosition(text, Math.max(issue.range[0], issue.range[1]));
    if (end.line === start.line && end.column > start.column) return { startLine: start.line, startColumn: start.column, endLine: end.line, endColumn: end.column };
    return { startLine: start.line, startColumn: start.column, endLine: start.line, endColumn: lineLength(text, start.line) };
  }
  if (issue.line <= 0) return { startLine: 0, startColumn: 0, endLine: 0, endColumn: lineLength(text, 0) };
  const line = issue.line - 1;
  const column = Math.max(0, issue.column - 1);
  return { startLine: line, startColumn: column, endLine: line, endColumn: Math.max(column + 1, lineLength(text, line)) };
}

function lineLength(text: string, line: number): number {
  const lines = text.split('\n');
  return (lines[line] ?? '').replace(/\r$/, '').length;
}

/**
 * A compiler diagnostic's span: an empty range at its position, which the editor widens to the
 * word there (we do not have the file's text, and compilers point at the start of the token).
 */
export function compilerSpan(d: Diagnostic): Span {
  const line = Math.max(0, d.line - 1);
  const column = Math.max(0, d.column - 1);
  return { startLine: line, startColumn: column, endLine: line, endColumn: column };
}

/** Groups diagnostics of several services by file (a header file can belong to two services). */
export function groupByFile(perService: Iterable<[string, Diagnostic[]]>): Map<string, (Diagnostic & { service: string })[]> {
  const byFile = new Map<string, (Diagnostic & { service: string })[]>();
  const seen = new Set<string>();
  for (const [service, list] of perService) {
    for (const d of list) {
      const key = `${d.file}:${d.line}:${d.column}:${d.severity}:${d.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entries = byFile.get(d.file) ?? [];
      entries.push({ ...d, service });
      byFile.set(d.file, entries);
    }
  }
  return byFile;
}
