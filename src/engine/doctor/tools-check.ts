import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../config/resolved.js';
import type { DoctorCheck, DoctorResult } from '../stages/stage.js';
import { analyseCommand, ShellSyntaxError, type CommandAnalysis } from './shell-words.js';

async function onPath(program: string, cwd: string, searchPath: string): Promise<boolean> {
  const candidates = program.includes('/')
    ? [path.resolve(cwd, program)]
    : searchPath.split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, program));
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

/** Which service's first run makes `file` (a compile output it stages, or a staged file), if any. */
function producerOf(config: ResolvedConfig, file: string): string | undefined {
  for (const service of Object.values(config.services)) {
    for (const f of service.stage?.files ?? []) {
      if (file === path.join(service.stage!.dir, f.to)) return `it will be staged by the first run of ${service.name}`;
      if (file === f.from) return `it will be built by the first run of ${service.name}`;
    }
  }
  return undefined;
}

/** Every compile and task command's programs exist (a relative one may be built by a dependency: warn). */
export const toolsCheck: DoctorCheck = {
  name: 'tools',
  async run(config: ResolvedConfig): Promise<DoctorResult[]> {
    const commands = [
      ...Object.values(config.services).flatMap((s) => (s.compile ? [{ owner: s.name, ...s.compile }] : [])),
      ...Object.values(config.tasks).map((t) => ({ owner: t.name, ...t })),
    ];
    const results: DoctorResult[] = [];
    for (const { owner, command, cwd, env } of commands) {
      const result = (status: DoctorResult['status'], message: string) => results.push({ check: 'tools', service: owner, status, message });
      let analysis: CommandAnalysis;
      try {
        analysis = analyseCommand(command);
      } catch (error) {
        if (!(error instanceof ShellSyntaxError)) throw error;
        result('fail', `the shell cannot run "${command}": ${error.message}`);
        continue;
      }
      for (const word of analysis.unknown) result('warn', `cannot tell which program ${word} runs (the shell expands it when the command runs); not checked`);
      // The command runs with its own env over the inherited one: its PATH is the one searched.
      const searchPath = env.PATH ?? process.env.PATH ?? '';
      for (const program of analysis.programs) {
        if (await onPath(program, cwd, searchPath)) result('ok', `${program} found`);
        else if (program.includes('/')) {
          const producer = producerOf(config, path.resolve(cwd, program));
          if (producer) result('ok', `${program} does not exist yet: ${producer}`);
          else result('warn', `${program} does not exist yet (built by a dependency?)`);
        }
        else if (analysis.indirect) result('warn', `cannot tell whether ${program} exists: ${analysis.indirect}, which may define it`);
        else result('fail', `${program} not found on PATH (needed by "${command}")`);
      }
    }
    return results;
  },
};
