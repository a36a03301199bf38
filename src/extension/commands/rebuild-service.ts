import * as vscode from 'vscode';
import { formatAgo, formatMs } from '../../shared/format.js';
import type { Tightloop } from '../ctx.js';
import { Cancelled } from '../errors.js';
import type { ServiceEntry } from '../model/run-model.js';
import { nameArg } from './args.js';
import type { TightloopCommand } from './index.js';

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
  const picked = await vscode.window.showQuickPick(items, { title: 'Tightloop: Rebuild Service', placeHolder: 'Service to rebuild (compile → stage → image → push → deploy → ready)', matchOnDescription: true, canPickMany: false });
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
  if (entry.live) parts.push(`running${entry.live.stage ? ` ${entry.live.stage}` : ''} for ${formatMs(now - entry.live.startedAt)}`);
  else if (entry.last) {
    const last = entry.last;
    const result = last.status === 'ok' ? `ok in ${formatMs(last.durationMs)}` : last.status === 'failed' ? `failed at ${last.failedStage ?? 'run'}` : 'cancelled';
    parts.push(`${result} · ${formatAgo(last.startedAt + last.durationMs, now)}`);
  } else parts.push('not run yet');
  if (entry.pending.length) parts.push(`changes pending (${entry.pending.length})`);
  if (entry.manual) parts.push('manual');
  return parts.join(' · ');
}

function failure(entry: ServiceEntry): string | undefined {
  return !entry.live && entry.last?.status === 'failed' ? entry.last.error : undefined;
}
