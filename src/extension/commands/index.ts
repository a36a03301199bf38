import * as vscode from 'vscode';
import type { Tightloop } from '../tightloop.js';
import { isCancellation, UserError } from '../errors.js';
import { cancelRun } from './cancel-run.js';
import { createConfig } from './create-config.js';
import { down } from './down.js';
import { openConfig } from './open-config.js';
import { openDocs } from './open-docs.js';
import { openPortForward } from './open-port-forward.js';
import { rebuildAll } from './rebuild-all.js';
import { rebuildCurrentFile } from './rebuild-current-file.js';
import { rebuildService } from './rebuild-service.js';
import { runDoctor } from './run-doctor.js';
import { runTask } from './run-task.js';
import { setTriggerAuto } from './set-trigger-auto.js';
import { setTriggerManual } from './set-trigger-manual.js';
import { showLogs } from './show-logs.js';
import { showStageTimings } from './show-stage-timings.js';
import { toggleAutoRebuild } from './toggle-auto-rebuild.js';
import { l10n } from '../l10n.js';

export interface TightloopCommand {
  id: string;
  run(tl: Tightloop, ...args: unknown[]): unknown;
}

export const COMMANDS: TightloopCommand[] = [
  rebuildService,
  rebuildAll,
  rebuildCurrentFile,
  toggleAutoRebuild,
  showStageTimings,
  cancelRun,
  runTask,
  runDoctor,
  showLogs,
  createConfig,
  openConfig,
  openPortForward,
  setTriggerManual,
  setTriggerAuto,
  openDocs,
  down,
];

/**
 * The one place commands are registered (vscode-go's commands/index.ts): each invocation is
 * logged; a dismissed picker is silence; a UserError is a warning with its buttons; anything
 * else is an error message that points at the log.
 */
export function registerCommands(tl: Tightloop): vscode.Disposable[] {
  return COMMANDS.map((command) =>
    vscode.commands.registerCommand(command.id, async (...args: unknown[]) => {
      tl.output.channel.debug(`command ${command.id}${args.length ? ` ${JSON.stringify(args).slice(0, 200)}` : ''}`);
      try {
        return await command.run(tl, ...args);
      } catch (error) {
        if (isCancellation(error)) return undefined;
        if (error instanceof UserError) {
          tl.output.warn(`${command.id}: ${error.message}`);
          const choice = await vscode.window.showWarningMessage(l10n.t('Tightloop: {0}', error.message), ...error.actions.map((a) => a.title));
          const action = error.actions.find((a) => a.title === choice);
          if (action) await vscode.commands.executeCommand(action.command, ...(action.arguments ?? []));
          return undefined;
        }
        tl.output.error(error instanceof Error ? error : new Error(String(error)));
        void vscode.window.showErrorMessage(l10n.t('Tightloop: {0}', (error as { message?: string } | null | undefined)?.message ?? String(error)), l10n.t('Show Logs')).then((choice) => {
          if (choice) tl.output.show();
        });
        return undefined;
      }
    }),
  );
}
