import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, CONFIG_FILE_NAME, Engine, findConfigFile, type EngineEvent, type RunSummary } from '../engine/index.js';
import { createIntegrations } from '../engine/integrations.js';
import { loadConfigVariants } from '../engine/config/variants.js';
import { stopAllGroups } from '../engine/compile/process-groups.js';
import { CliOutput, unknownTargetMessage } from './output.js';
import { Progress } from './progress.js';
import { palette, runTable, statsTable } from './render.js';
import { targetsHelp, tasksCommand } from './targets.js';
import { onInterrupt } from './signals.js';

const USAGE = `tightloop — save a file, see it running in your cluster, every stage timed.

Usage:
  tightloop run [target…]      run services or tasks (default: every service) once, dependencies first
  tightloop watch [service…]   run once, then rebuild on every change until Ctrl-C
  tightloop tasks              list the tasks, their dependencies and last result
  tightloop doctor             check the config, tools on PATH, Docker, registry and cluster
  tightloop history [target]   recent runs with per-stage p50/p95
  tightloop down [service…]    delete what Tightloop applied from manifests (default: all), dependents first

  A target is a service or a task from tightloop.yaml.

Options:
  -c, --config FILE   tightloop.yaml to use (default: found from the current folder upwards);
                      repeat to merge more files over the first (-c tightloop.yaml -c local.yaml)
      --set KEY=VALUE override one field, e.g. --set kubernetes.context=k3d-ci (repeatable)
      --json          machine-readable output: one JSON event per line
      --force         ignore every skip (unchanged inputs, unchanged artifact)
  -v, --verbose       stream every stage's log lines (compile output, build output)
      --no-initial    watch: do not run before the first change
  -h, --help          show this help`;

/** Exit codes: 0 success, 1 a run or check failed, 2 bad usage or config, 130 interrupted. */
export async function main(argv: string[]): Promise<number> {
  // Known before parsing, so even a bad option is reported as JSON when --json was asked for.
  const out = new CliOutput(argv.includes('--json'));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c', multiple: true },
        set: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        'no-initial': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return out.usageError((error as Error).message, USAGE);
  }
  const { values, positionals } = parsed;
  const [command, ...names] = positionals;
  if (values.help || !command) {
    const targets = await targetsHelp(values.config?.length ? path.resolve(values.config[0]!) : findConfigFile(process.cwd()));
    out.emit({ type: 'usage', text: USAGE, ...(targets && { services: targets.services, tasks: targets.tasks }) }, targets ? `${USAGE}\n\n${targets.text}` : USAGE);
    return command || values.help ? 0 : 2;
  }
  if (!['run', 'watch', 'tasks', 'doctor', 'history', 'down'].includes(command)) {
    return out.usageError(`unknown command "${command}"`, USAGE);
  }

  const configFile = values.config?.length ? path.resolve(values.config[0]!) : findConfigFile(process.cwd());
  if (!configFile) {
    return out.usageError(`no ${CONFIG_FILE_NAME} in ${process.cwd()} or any parent folder (use --config FILE)`);
  }
  let engine: Engine;
  try {
    const overlays = values.config?.slice(1) ?? [];
    engine =
      overlays.length || values.set?.length
        ? await Engine.start(await loadConfigVariants([configFile, ...overlays], values.set ?? []), { stages: createIntegrations })
        : await Engine.create(configFile, { stages: createIntegrations });
  } catch (error) {
    if (error instanceof ConfigError) {
      if (values.json) {
        const event: EngineEvent = { type: 'config-error', errors: error.issues };
        process.stdout.write(`${JSON.stringify(event)}\n`);
      }
      else process.stderr.write(`${error.message}\n${error.issues.length} problem(s) in ${configFile}\n`);
      return 2;
    }
    return out.error((error as Error).message, 2);
  }

  const c = palette(process.stdout);
  const progress = values.json ? undefined : new Progress(process.stdout);
  engine.on((event) => {
    if (values.json) return void process.stdout.write(`${JSON.stringify(event)}\n`);
    render(event, progress!, c, values.verbose || command === 'watch');
  });

  try {
    for (const name of names) {
      if (!engine.names.includes(name)) return out.usageError(unknownTargetMessage(name, engine.names));
    }
    switch (command) {
      case 'run':
        return await run(engine, names, values.force);
      case 'watch':
        return await watch(engine, names, values['no-initial'], values.force, progress);
      case 'doctor':
        return await doctor(engine, out);
      case 'tasks':
        return await tasksCommand(engine, out);
      case 'down':
        return await down(engine, names, values.json);
      default:
        return await history(engine, names[0], out);
    }
  } finally {
    progress?.stop();
    await engine.dispose();
    await stopAllGroups(); // normally none are left: dispose cancelled and awaited every run
  }
}

/** Ctrl-C, SIGTERM or SIGHUP cancel the run; the CLI exits (130) only once its commands are gone. */
async function run(engine: Engine, names: string[], force: boolean): Promise<number> {
  const interrupt = onInterrupt(() => engine.cancel());
  try {
    const summaries = await engine.run(names.length ? names : undefined, { force });
    return interrupt.received ? 130 : exitCode(summaries);
  } finally {
    interrupt.dispose();
  }
}

function exitCode(summaries: RunSummary[]): number {
  return summaries.every((s) => s.status === 'ok') ? 0 : 1;
}

function render(event: EngineEvent, progress: Progress, c: ReturnType<typeof palette>, showLogs: boolean): void {
  progress.handle(event);
  switch (event.type) {
    case 'run-finished':
      progress.print(runTable(event.summary, c, showLogs));
      break;
    case 'log': {
      const { line } = event;
      // Failures print their own evidence; pod logs and warnings always show in watch mode.
      if (showLogs || line.stream === 'warn') {
        progress.print(`${c.dim(`${line.service} ${line.stage ?? ''} │`)} ${line.stream === 'stderr' || line.stream === 'error' ? c.red(line.text) : line.text}`);
      }
      break;
    }
    case 'changes-pending':
      progress.print(c.yellow(`${event.service}: ${event.changedFiles.length} change(s) pending (trigger: manual; run \`tightloop run ${event.service}\`)`));
      break;
    case 'run-waiting':
      progress.print(c.dim(`${event.service}: ${event.reason.message}`));
      break;
    case 'warning':
      progress.print(c.yellow(`warning: ${event.message}`));
      break;
    case 'background-image':
      if (event.state === 'done') progress.print(c.dim(`${event.service}: ${event.detail}`));
      else if (event.state === 'failed') progress.print(c.yellow(`${event.service}: background image not built (the next full rollout builds it): ${event.detail}`));
      break;
    default:
  }
}

async function watch(engine: Engine, names: string[], noInitial: boolean, force: boolean, progress?: Progress): Promise<number> {
  await engine.startWatching({ only: names });
  progress?.print(`watching ${names.length ? names.join(', ') : engine.config.file} — Ctrl-C to stop`);
  const services = names.length ? names : Object.values(engine.config.services).filter((s) => s.trigger === 'auto').map((s) => s.name);
  if (!noInitial && services.length) void engine.run(services, { force });
  const interrupt = onInterrupt(() => engine.cancel());
  const signal = await interrupt.next;
  progress?.print(`stopping (${signal}): cancelling running stages…`);
  interrupt.dispose();
  return 130; // main's `finally` disposes the engine: it waits until every process group is gone
}

async function doctor(engine: Engine, out: CliOutput): Promise<number> {
  const results = await engine.doctor();
  const c = palette(process.stdout);
  for (const r of results) {
    const mark = r.status === 'ok' ? c.green('✓') : r.status === 'warn' ? c.yellow('!') : c.red('✗');
    out.emit({ type: 'doctor', ...r }, `${mark} ${r.check.padEnd(10)} ${r.service ? `${r.service}: ` : ''}${r.message}`);
  }
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

async function down(engine: Engine, names: string[], json: boolean): Promise<number> {
  const controller = new AbortController();
  const interrupt = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  try {
    const results = await engine.down(names.length ? names : undefined, controller.signal);
    const c = palette(process.stdout);
    for (const r of results) {
      if (json) process.stdout.write(`${JSON.stringify({ type: 'down', ...r })}\n`);
      else process.stdout.write(`${c.green('✓')} ${r.service}: ${r.deleted.length ? `deleted ${r.deleted.join(', ')}` : 'nothing to delete'}${r.leftAlone.length ? c.yellow(` (left alone, not applied by Tightloop: ${r.leftAlone.join(', ')})`) : ''}\n`);
    }
    if (!json && results.length === 0) process.stdout.write('nothing to delete: no service or resource deploys from manifests\n');
    return 0;
  } catch (error) {
    const e = error as Error & { options?: { hint?: string } };
    process.stderr.write(`tightloop down: ${e.message}\n${e.options?.hint ? `  hint: ${e.options.hint}\n` : ''}`);
    return 1;
  } finally {
    process.off('SIGINT', interrupt);
  }
}

async function history(engine: Engine, service: string | undefined, out: CliOutput): Promise<number> {
  const json = out.json;
  const c = palette(process.stdout);
  const names = service ? [service] : engine.names;
  for (const name of names) {
    const runs = await engine.recentRuns(name, 50);
    if (json) {
      for (const run of runs) out.emit({ type: 'history-run', ...run });
      continue;
    }
    if (runs.length === 0) {
      process.stdout.write(`${name}: no runs yet\n`);
      continue;
    }
    process.stdout.write(`${statsTable(name, await engine.stageStats(name, 50), runs, c)}\n\n`);
  }
  if (!json && names.length === 0) process.stdout.write(c.dim('no services\n'));
  return 0;
}
