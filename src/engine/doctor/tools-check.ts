import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../config/resolved.js';
import type { DoctorCheck, DoctorResult } from '../stages/stage.js';

const SHELL_BUILTINS = new Set(['cd', 'export', 'set', 'unset', 'echo', 'test', '[', 'true', 'false', 'exit', 'source', '.', 'exec', 'env', 'time', 'if', 'then', 'fi', 'for', 'do', 'done', 'while']);

/** The programs a shell command line starts (first word of each `&&`, `||`, `;`, `|` segment). */
export function programsOf(command: string): string[] {
  const programs: string[] = [];
  for (const segment of command.split(/&&|\|\||;|\|/)) {
    const words = segment.trim().split(/\s+/).filter(Boolean);
    const first = words.find((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
    if (first && !SHELL_BUILTINS.has(first) && !first.startsWith('$') && !first.startsWith('(')) programs.push(first);
  }
  return [...new Set(programs)];
}

async function onPath(program: string, cwd: string): Promise<boolean> {
  const candidates = program.includes('/')
    ? [path.resolve(cwd, program)]
    : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, program));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

/** Every compile and task command's programs exist (a relative one may be built by a dependency: warn). */
export const toolsCheck: DoctorCheck = {
  name: 'tools',
  async run(config: ResolvedConfig): Promise<DoctorResult[]> {
    const commands = [
      ...Object.values(config.services).flatMap((s) => (s.compile ? [{ owner: s.name, command: s.compile.command, cwd: s.compile.cwd }] : [])),
      ...Object.values(config.tasks).map((t) => ({ owner: t.name, command: t.command, cwd: t.cwd })),
    ];
    const results: DoctorResult[] = [];
    for (const { owner, command, cwd } of commands) {
      for (const program of programsOf(command)) {
        const found = await onPath(program, cwd);
        const builtLater = program.includes('/');
        results.push({
          check: 'tools',
          service: owner,
          status: found ? 'ok' : builtLater ? 'warn' : 'fail',
          message: found ? `${program} found` : builtLater ? `${program} does not exist yet (built by a dependency?)` : `${program} not found on PATH (needed by "${command}")`,
        });
      }
    }
    return results;
  },
};
