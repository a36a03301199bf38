import * as vscode from 'vscode';
import { formatAgo, formatDuration } from '../../shared/format.js';
import type { Tightloop } from '../tightloop.js';
import { Cancelled } from '../errors.js';
import type { ServiceEntry } from '../model/run-model.js';
import { nameArg } from './args.js';
import type { TightloopCommand } from './index.js';
import { l10n } from '../l10n.js';

/** Rebuild Service…: a quick pick with each service's last result and when; or a name argument. */
export const rebuildService: TightloopCommand = {
  id: 'tightloop.rebuildService',
  async run(tl: Tightloop, name?: unknown) {
    await tl.engineReady();
    const given = nameArg(name);
    const chosen = given ? [given] : await pick(tl);
    return tl.rebuild(chosen);
  },
};

async function pick(tl: Tightloop): Promise<string[]> {
  const items = tl.model.services().map((entry) => ({ label: `${icon(entry)} ${entry.name}`, description: describe(entry), detail: failure(entry), name: entry.name }));
  const picked = await vscode.window.showQuickPick(items, { title: l10n.t('Tightloop: Rebuild Service'), placeHolder: l10n.t('Service to rebuild (compile → stage → image → push → deploy → ready)'), matchOnDescription: true, canPickMany: false });
  if (!picked) throw new Cancelled();
  return [picked.name];
}

export function icon(entry: ServiceEntry): string {
  if (entry.live) return '$(sync~spin)';
  if (!entry.last) return '$(circle-large-outline)';
  return { ok: '$(pass)', failed: '$(error)', cancelled: '$(circle-slash)' }[entry.last.status];
}

export function describe(entry: ServiceEntry, now = Date.now()): string {
  const parts: string[] = [];
  if (entry.live) parts.push(entry.live.stage ? l10n.t('running {0} for {1}', entry.live.stage, formatDuration(now - entry.live.startedAt)) : l10n.t('running for {0}', formatDuration(now - entry.live.startedAt)));
  else if (entry.last) {
    const last = entry.last;
    const result = last.status === 'ok' ? l10n.t('ok in {0}', formatDuration(last.durationMs)) : last.status === 'failed' ? l10n.t('failed at {0}', last.failedStage ?? 'run') : l10n.t('cancelled');
    parts.push(`${result} · ${formatAgo(last.startedAt + last.durationMs, now)}`);
  } else parts.push(l10n.t('not run yet'));
  if (entry.pending.length) parts.push(l10n.t('changes pending ({0})', entry.pending.length));
  if (entry.manual) parts.push(l10n.t('manual'));
  return parts.join(' · ');
}

function failure(entry: ServiceEntry): string | undefined {
  return !entry.live && entry.last?.status === 'failed' ? entry.last.error : undefined;
}
