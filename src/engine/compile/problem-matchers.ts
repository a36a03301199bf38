import path from 'node:path';
import type { Diagnostic } from '../types.js';

/**
 * Diagnostics kept per run. A broken header can make a compiler print tens of thousands of
 * errors; the first few hundred say what is wrong, and every one is held in memory, sent to the
 * editor and shown in Problems.
 */
export const MAX_DIAGNOSTICS = 500;

export type ProblemMatcherName = 'rustc' | 'go' | 'gcc' | 'tsc' | 'none';

/**
 * Turns compiler output lines into diagnostics. Stateful because rustc prints the message and
 * its location on separate lines (`error[E0425]: …` then ` --> src/main.rs:3:5`).
 */
export class ProblemMatcher {
  private readonly found: Diagnostic[] = [];
  private pendingRust?: { severity: Diagnostic['severity']; message: string; code?: string };

  constructor(
    private readonly kind: ProblemMatcherName,
    private readonly cwd: string,
  ) {}

  get diagnostics(): Diagnostic[] {
    return this.found;
  }

  feed(rawLine: string): void {
    // Compilers colour their output when forced; strip ANSI so the patterns match.
    const line = rawLine.replace(/\x1b\[[0-9;]*m/g, '');
    switch (this.kind) {
      case 'gcc':
        return this.match(/^(.+?):(\d+):(\d+): (?:fatal )?(error|warning): (.*)$/, line, (m) => [m[1]!, m[2]!, m[3]!, m[4]!, m[5]!]);
      case 'go':
        return this.match(/^(?:\.\/)?(.+?\.go):(\d+):(\d+): (.*)$/, line, (m) => [m[1]!, m[2]!, m[3]!, 'error', m[4]!]);
      case 'tsc':
        return this.match(/^(.+?)\((\d+),(\d+)\): (error|warning) (TS\d+): (.*)$/, line, (m) => [m[1]!, m[2]!, m[3]!, m[4]!, m[6]!, m[5]]);
      case 'rustc':
        return this.feedRust(line);
      case 'none':
        return;
    }
  }

  private match(pattern: RegExp, line: string, pick: (m: RegExpExecArray) => (string | undefined)[]): void {
    const m = pattern.exec(line);
    if (!m) return;
    const [file, lineNo, column, severity, message, code] = pick(m);
    this.push(file!, Number(lineNo), Number(column), severity === 'warning' ? 'warning' : 'error', message!, code);
  }

  private feedRust(line: string): void {
    const header = /^(error|warning)(?:\[(E\d+)\])?: (.*)$/.exec(line);
    if (header) {
      // "warning: 3 warnings emitted" and "error: could not compile" have no location; keep only real ones.
      this.pendingRust = { severity: header[1] as Diagnostic['severity'], message: header[3]!, code: header[2] };
      return;
    }
    const location = /^\s*--> (.+?):(\d+):(\d+)$/.exec(line);
    if (location && this.pendingRust) {
      const { severity, message, code } = this.pendingRust;
      this.push(location[1]!, Number(location[2]), Number(location[3]), severity, message, code);
      this.pendingRust = undefined;
    }
  }

  private push(file: string, line: number, column: number, severity: Diagnostic['severity'], message: string, code?: string) {
    if (this.found.length >= MAX_DIAGNOSTICS) return;
    this.found.push({ file: path.resolve(this.cwd, file), line, column, severity, message, ...(code ? { code } : {}) });
  }
}
