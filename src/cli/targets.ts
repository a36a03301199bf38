import { formatDuration } from '../shared/format.js';
import { loadConfig, type Engine, type ResolvedConfig } from '../engine/index.js';
import type { CliOutput } from './output.js';
import { palette, statusColour } from './render.js';

/**
 * The services and tasks of the config in the current folder, for `--help`: tasks can be run like
 * services (`tightloop run smoke`), and nothing else says so. Empty when there is no usable config
 * (help must never fail because of it).
 */
export async function targetsHelp(configFile: string | undefined): Promise<{ text: string; services: string[]; tasks: { name: string; dependsOn: string[] }[] } | undefined> {
  if (!configFile) return undefined;
  let config: ResolvedConfig;
  try {
    config = await loadConfig(configFile);
  } catch {
    return undefined;
  }
  const services = Object.keys(config.services);
  const tasks = Object.values(config.tasks).map((t) => ({ name: t.name, dependsOn: t.dependsOn }));
  const lines = [`Targets in ${configFile} (for run and history):`, `  services: ${services.join(', ')}`];
  if (tasks.length) lines.push(`  tasks:    ${tasks.map((t) => t.name + (t.dependsOn.length ? ` (after ${t.dependsOn.join(', ')})` : '')).join(', ')}`, '  e.g. tightloop run ' + tasks[0]!.name);
  return { text: lines.join('\n'), services, tasks };
}

/** `tightloop tasks`: every task with its command, dependencies and last result. */
export async function tasksCommand(engine: Engine, out: CliOutput): Promise<number> {
  const c = palette(process.stdout);
  const tasks = Object.values(engine.config.tasks);
  if (tasks.length === 0) {
    out.emit({ type: 'tasks', count: 0 }, c.dim(`no tasks in ${engine.config.file}`));
    return 0;
  }
  const width = Math.max(...tasks.map((t) => t.name.length));
  for (const task of tasks) {
    const [last] = await engine.recentRuns(task.name, 1);
    const lastText = last
      ? `${statusColour(c, last.status)(last.status)} ${formatDuration(last.durationMs)}, ${new Date(last.startedAt).toISOString().replace('T', ' ').slice(0, 19)}${last.error ? c.dim(` — ${last.error}`) : ''}`
      : c.dim('never run');
    const after = task.dependsOn.length ? `after ${task.dependsOn.join(', ')}` : 'no dependencies';
    out.emit(
      {
        type: 'task',
        name: task.name,
        command: task.command,
        dependsOn: task.dependsOn,
        ...(last && { last: { status: last.status, startedAt: last.startedAt, durationMs: last.durationMs, ...(last.error && { error: last.error }) } }),
      },
      `${c.bold(task.name.padEnd(width))}  ${after}; last: ${lastText}\n${' '.repeat(width)}  ${c.dim(`$ ${task.command}`)}`,
    );
  }
  out.emit({ type: 'hint', message: 'run one with: tightloop run TASK' }, c.dim(`\nrun one with: tightloop run ${tasks[0]!.name} (its dependencies run first)`));
  return 0;
}
