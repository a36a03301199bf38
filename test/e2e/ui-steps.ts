import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import type { FakeKubeServer } from '../fake-kube/server.js';
import { RESULTS, remoteUri, ROOT, workbenchUrl, type Server } from './infra.js';
import { caretToEnd, openFile, panelElement, panelFrame, pickRow, problems, runCommand, statusItem, statusText, waitForProblem, waitForStatus, waitForWorkbench, waitUntil } from './workbench.js';

export interface UiContext {
  browser: Browser;
  server: Server;
  workspace: string;
  fake: FakeKubeServer;
  step(name: string, fn: () => Promise<void>): Promise<boolean>;
  newPage(browser: Browser, theme?: 'light'): Promise<{ context: BrowserContext; page: Page }>;
}

interface Row {
  stage: string;
  state: string;
  time: string;
  detail: string;
}

const DURATION = /^\d+(\.\d+)? (ms|s)$|^\d+m \d+s$/;

/** "850 ms…" / "1.23 s…" → milliseconds. */
function toMs(text: string): number {
  const m = /([\d.]+) (ms|s)/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

async function waterfallRows(frame: Frame, service = 'hello'): Promise<Row[]> {
  return frame.evaluate((name) => {
    const card = document.querySelector(`.card[data-service="${name}"]`);
    return Array.from(card?.querySelectorAll('.waterfall .wf-row') ?? []).map((row) => ({
      stage: row.getAttribute('data-stage') ?? '',
      state: Array.from(row.classList).find((c) => c.startsWith('state-'))?.slice(6) ?? '',
      time: row.querySelector('.wf-time')?.textContent ?? '',
      detail: row.querySelector('.wf-detail')?.textContent ?? '',
    }));
  }, service);
}

async function cardSummary(frame: Frame, service = 'hello'): Promise<string> {
  return frame.evaluate((name) => document.querySelector(`.card[data-service="${name}"] .card-head .summary`)?.textContent ?? '', service);
}

async function historyRuns(frame: Frame, service = 'hello'): Promise<number> {
  const text = await frame.evaluate((name) => document.querySelector(`.card[data-service="${name}"] .history > summary`)?.textContent ?? '', service);
  return Number(/(\d+) runs?/.exec(text)?.[1] ?? 0);
}

/** The panel as a person sees it: an element screenshot of the webview. */
async function shootPanel(page: Page, file: string): Promise<void> {
  // No hover label from the pointer over the shot.
  await page.mouse.move(2, 450);
  await page.waitForTimeout(400);
  await panelElement(page).screenshot({ path: path.join(RESULTS, file) });
}

export async function uiSteps(ctx: UiContext): Promise<void> {
  const { page } = await ctx.newPage(ctx.browser);
  const cspErrors: string[] = [];
  page.on('console', (message) => {
    if (/Content[- ]Security[- ]Policy/i.test(message.text()) && /webview|vscode-cdn|vscode-resource|panel\.css|webview\.js/i.test(message.text())) cspErrors.push(message.text());
  });
  let frame: Frame | undefined;
  const { step } = ctx;
  /** Violations the panel recorded, gathered before each reload of the webview. */
  const cspViolations: string[] = [];
  const collectCsp = async () => {
    const seen = await frame?.evaluate(() => (window as unknown as { tightloopCspViolations?: string[] }).tightloopCspViolations ?? []).catch(() => []);
    cspViolations.push(...(seen ?? []));
  };

  const loaded = await step('workbench loads the extension (workspaceContains:tightloop.yaml) and shows the idle status', async () => {
    await page.goto(workbenchUrl(ctx.server, ctx.workspace, [['extensionDevelopmentPath', remoteUri(ctx.server, ROOT)]]));
    await waitForWorkbench(page);
    const text = await waitForStatus(page, /^Tightloop: (?!.*loading)/, 60_000);
    if (!/Tightloop: (Tightloop|hello)/.test(text)) throw new Error(`unexpected status "${text}"`);
    // More room for the panel in screenshots: no chat side bar.
    if (await page.locator('.part.auxiliarybar').isVisible().catch(() => false)) await page.keyboard.press('Control+Alt+B');
  });
  if (!loaded) return;

  await step('"Tightloop: Rebuild All" from the palette runs compile → image → push → deploy → ready', async () => {
    await runCommand(page, 'Tightloop: Rebuild All');
    const text = await waitForStatus(page, /^Tightloop: hello \d/, 90_000);
    if (!/ms|s$/.test(text)) throw new Error(`status "${text}"`);
    await statusItem(page).screenshot({ path: path.join(RESULTS, 'statusbar-succeeded.png') });
  });

  await step('"Tightloop: Show Stage Timings" shows a waterfall row per stage with real durations', async () => {
    await runCommand(page, 'Tightloop: Show Stage Timings');
    frame = await panelFrame(page);
    const rows = await waitUntil('7 waterfall rows', async () => {
      const r = await waterfallRows(frame!);
      return r.length === 7 && r.every((x) => x.state !== 'pending') ? r : undefined;
    });
    const stages = rows.map((r) => r.stage).join(',');
    if (stages !== 'trigger,compile,staging,image,push,deploy,ready') throw new Error(`stages ${stages}`);
    for (const stage of ['compile', 'staging', 'deploy', 'ready']) {
      const row = rows.find((r) => r.stage === stage)!;
      if (row.state !== 'ok' || !DURATION.test(row.time)) throw new Error(`${stage}: ${JSON.stringify(row)}`);
    }
    // An image already built from identical bytes (an earlier run) is skipped, and says so.
    for (const stage of ['image', 'push']) {
      const row = rows.find((r) => r.stage === stage)!;
      const fine = (row.state === 'ok' && DURATION.test(row.time)) || (row.state === 'skipped' && /already exists|unchanged/.test(row.detail));
      if (!fine) throw new Error(`${stage}: ${JSON.stringify(row)}`);
    }
    const compile = rows.find((r) => r.stage === 'compile')!;
    if (compile.time === '0 ms') throw new Error('compile took 0 ms: not a real duration');
    console.log(`\n    waterfall: ${rows.map((r) => `${r.stage} ${r.time}`).join(' · ')}`);
    await shootPanel(page, 'panel-first-run.png');
  });

  await step('the status-bar button rebuilds (click) and its tooltip is a stage table with command links', async () => {
    if (!frame) throw new Error('no panel');
    const before = await historyRuns(frame);
    await statusItem(page).click();
    await waitUntil('one more run in the panel history', async () => (await historyRuns(frame!)) > before, 60_000);
    await waitForStatus(page, /^Tightloop: hello \d/, 60_000);
    // After a click VS Code keeps the hover closed until the pointer leaves and comes back.
    await page.mouse.move(700, 300);
    await page.waitForTimeout(300);
    await statusItem(page).hover();
    const hover = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'Stage' }).first();
    await hover.waitFor({ state: 'visible', timeout: 10_000 });
    const text = await hover.innerText();
    for (const wanted of ['compile', 'push', 'ready', 'Rebuild hello', 'Stage Timings']) if (!text.includes(wanted)) throw new Error(`tooltip lacks "${wanted}": ${text}`);
    const links = await hover.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('data-href') ?? a.getAttribute('href') ?? ''));
    if (!links.some((l) => l.startsWith('command:tightloop.rebuildService'))) throw new Error(`no command links: ${links.join(' ')}`);
    const box = await hover.boundingBox();
    const bar = await statusItem(page).boundingBox();
    if (box && bar) {
      const x = Math.max(0, Math.min(box.x, bar.x) - 8);
      const y = Math.max(0, box.y - 8);
      await page.screenshot({ path: path.join(RESULTS, 'statusbar-tooltip.png'), clip: { x, y, width: Math.max(box.x + box.width, bar.x + bar.width) - x + 8, height: bar.y + bar.height - y + 4 } });
    }
    await page.mouse.move(700, 300);
  });

  await step('saving a source file starts exactly one auto-rebuild, at once', async () => {
    if (!frame) throw new Error('no panel');
    // Code on the left, the panel beside it: both stay visible while editing.
    await collectCsp();
    await runCommand(page, 'View: Close All Editors');
    await openFile(page, 'main.c');
    await runCommand(page, 'Tightloop: Show Stage Timings');
    frame = await panelFrame(page);
    await waitUntil('panel history', async () => (await historyRuns(frame!)) > 0);
    const before = await historyRuns(frame);
    await caretToEnd(page);
    await page.keyboard.type('\n// saved by the e2e test\n');
    const savedAt = Date.now();
    await page.keyboard.press('Control+S');
    const seen = await waitUntil('a run triggered by the save', async () => {
      const text = await statusText(page);
      const summary = await cardSummary(frame!);
      return /sync~spin|hello · /.test(text) || (/(save|watch): src\/main\.c/.test(summary) && (await historyRuns(frame!)) > before) ? `${text} | ${summary}` : undefined;
    }, 30_000, 50);
    console.log(`\n    ${Date.now() - savedAt} ms after Ctrl+S: ${seen}`);
    await waitUntil('history grew', async () => (await historyRuns(frame!)) > before, 60_000);
    await waitForStatus(page, /^Tightloop: hello \d/, 60_000);
    await page.waitForTimeout(1500);
    const summary = await cardSummary(frame);
    // "save" when the editor's event came first, "watch" when the engine's watcher did (remote windows).
    if (!/(save|watch): src\/main\.c/.test(summary)) throw new Error(`card summary "${summary}"`);
    // The engine's watcher sees the same write; it must not add a second run.
    const runs = (await historyRuns(frame)) - before;
    if (runs !== 1) {
      const triggers = await frame.evaluate(() => Array.from(document.querySelectorAll('.card[data-service="hello"] .run-row')).map((r) => `${r.textContent} (${r.getAttribute('title')})`));
      throw new Error(`one save gave ${runs} runs: ${JSON.stringify(triggers.slice(0, runs))}`);
    }
  });

  await step('a compile error turns the status bar red, shows gcc\'s error in Problems and beside the failing stage', async () => {
    if (!frame) throw new Error('no panel');
    await openFile(page, 'main.c');
    await caretToEnd(page);
    await page.keyboard.type('int broken_by_e2e(void) { return missing_e2e_symbol; }');
    await page.keyboard.press('Control+S');
    await waitForStatus(page, /^Tightloop: hello: compile failed/, 60_000);
    await statusItem(page).screenshot({ path: path.join(RESULTS, 'statusbar-failed.png') });
    const bg = await statusItem(page).evaluate((el) =>
      [el, ...Array.from(el.querySelectorAll('*'))].map((e) => getComputedStyle(e).backgroundColor).find((c) => !/rgba\(0, 0, 0, 0\)|transparent/.test(c)),
    );
    if (!bg) throw new Error('the status item has no background colour (expected statusBarItem.errorBackground)');
    const problem = await waitForProblem(page, /missing_e2e_symbol/);
    console.log(`\n    Problems: ${problem.slice(0, 160)}`);
    frame = await panelFrame(page);
    const error = await waitUntil('error box under compile', () =>
      frame!.evaluate(() => {
        const box = document.querySelector('.card[data-service="hello"] .wf-error');
        const previous = box?.previousElementSibling;
        return box && previous?.getAttribute('data-stage') === 'compile' ? box.textContent : undefined;
      }),
    );
    if (!/Failed at compile/.test(error)) throw new Error(`error box: ${error}`);
    await frame.evaluate(() => (document.querySelector('.card[data-service="hello"] .wf-row[data-stage="compile"]') as HTMLElement | null)?.click());
    await waitUntil('compile log with gcc output', () => frame!.evaluate(() => /missing_e2e_symbol/.test(document.querySelector('.log-view .log-lines')?.textContent ?? '')));
    await shootPanel(page, 'panel-failed.png');
  });

  await step('fixing the error: the next success clears Problems and the status bar', async () => {
    await openFile(page, 'main.c');
    // Delete the broken line (it is the last one).
    await caretToEnd(page);
    await page.keyboard.press('Control+Shift+K');
    await page.keyboard.press('Control+S');
    await waitForStatus(page, /^Tightloop: hello \d/, 60_000);
    await waitUntil('gcc problem gone', async () => !(await problems(page)).some((p) => /missing_e2e_symbol/.test(p)));
  });

  await step('a config error shows in Problems while typing, and the status bar says so after saving', async () => {
    await openFile(page, 'tightloop.yaml');
    await caretToEnd(page);
    await page.keyboard.type('bogus_e2e_field: 1');
    const problem = await waitForProblem(page, /unknown field "bogus_e2e_field"/);
    console.log(`\n    Problems: ${problem.slice(0, 160)}`);
    await page.keyboard.press('Control+S');
    await waitForStatus(page, /^Tightloop: Tightloop: config/, 30_000);
    await statusItem(page).screenshot({ path: path.join(RESULTS, 'statusbar-config-error.png') });
    await page.keyboard.press('Control+Shift+K');
    await page.keyboard.press('Control+S');
    await waitForStatus(page, /^Tightloop: (hello|Tightloop)\b(?!: config)/, 30_000);
    await waitUntil('config problem gone', async () => !(await problems(page)).some((p) => /bogus_e2e_field/.test(p)));
    if (await page.locator('.markers-panel').isVisible()) await runCommand(page, 'View: Toggle Panel Visibility');
  });

  await step('panel buttons: Rebuild starts a long run whose elapsed time ticks live, Cancel stops it', async () => {
    const config = path.join(ctx.workspace, 'tightloop.yaml');
    const original = readFileSync(config, 'utf8');
    const card = '.card[data-service="slow-e2e"]';
    try {
      // Written outside the editor: the extension's file watcher reloads the engine. The compile
      // lasts until it is cancelled (an hour is only a backstop), so however slowly the steps
      // below run on a loaded machine, the run is still going when Cancel is clicked.
      writeFileSync(config, original.replace(/^tasks:/m, '  slow-e2e:\n    compile: { command: "sleep 3600", timeout: 2h }\ntasks:'));
      await runCommand(page, 'Tightloop: Show Stage Timings');
      frame = await panelFrame(page);
      await waitUntil('slow-e2e card', () => frame!.evaluate((c) => !!document.querySelector(c), card), 30_000);
      await frame.locator(`${card} .card-head vscode-button`, { hasText: 'Rebuild' }).click();
      await waitUntil('compile running', () => frame!.evaluate((c) => !!document.querySelector(`${c} .wf-row.state-running[data-stage="compile"]`), card), 20_000);
      const elapsed = () => frame!.evaluate((c) => document.querySelector(`${c} .wf-row[data-stage="compile"] .wf-time`)?.textContent ?? '', card);
      const first = toMs(await elapsed());
      // A state, not a pause: the shown time advances by at least 0.8 s while the compile runs.
      await waitUntil(`elapsed to tick on from ${first} ms`, async () => toMs(await elapsed()) - first >= 800, 20_000);
      const pending = await frame.evaluate((c) => document.querySelectorAll(`${c} .wf-row.state-pending`).length, card);
      if (pending !== 5) throw new Error(`${pending} stages shown as waiting, expected 5`);
      await shootPanel(page, 'panel-running.png');
      await frame.locator(`${card} .card-head vscode-button`, { hasText: 'Cancel' }).click();
      await waitUntil('cancelled', () => frame!.evaluate((c) => document.querySelector(c)?.classList.contains('state-cancelled'), card), 30_000);
      const box = await frame.evaluate((c) => document.querySelector(`${c} .wf-error`)?.textContent ?? '', card);
      if (!/Cancelled/.test(box)) throw new Error(`no cancellation note: "${box}"`);
      await shootPanel(page, 'panel-cancelled.png');
    } finally {
      writeFileSync(config, original);
    }
    await waitUntil('slow-e2e gone again', () => frame!.evaluate((c) => !document.querySelector(c), card), 30_000);
  });

  await step('"Rebuild Service…" offers each service with its last result and time', async () => {
    await runCommand(page, 'Tightloop: Rebuild Service…');
    const rows = await waitUntil('service rows', async () => {
      const labels = await page.locator('.quick-input-widget .monaco-list-row').evaluateAll((rs) => rs.map((r) => r.getAttribute('aria-label') ?? r.textContent));
      return labels.some((l) => l.includes('hello')) ? labels : undefined;
    });
    const hello = rows.find((r) => r.includes('hello'));
    if (!hello || !/(ok in|failed at|cancelled).*(ago|just now)/.test(hello)) throw new Error(`quick pick rows: ${JSON.stringify(rows)}`);
    const before = await statusText(page);
    await pickRow(page, (label) => label.includes('hello'));
    await waitUntil('a new run', async () => (await statusText(page)) !== before || /spin/.test(await statusText(page)), 30_000, 50).catch(() => undefined);
    await waitForStatus(page, /^Tightloop: hello \d/, 60_000);
  });

  await step('many services: the panel draws 50 cards and offers the rest on request; the filter finds any', async () => {
    const config = path.join(ctx.workspace, 'tightloop.yaml');
    const original = readFileSync(config, 'utf8');
    const extra = Array.from({ length: 300 }, (_, i) => `  svc-${String(i).padStart(3, '0')}:\n    trigger: manual\n    compile: { command: "true" }\n`).join('');
    try {
      writeFileSync(config, original.replace(/^tasks:/m, `${extra}tasks:`));
      await runCommand(page, 'Tightloop: Show Stage Timings');
      frame = await panelFrame(page);
      const started = Date.now();
      await waitUntil('capped cards', () => frame!.evaluate(() => document.querySelectorAll('.card').length === 50 && /250 hidden|252 hidden/.test(document.querySelector('.footer')?.textContent ?? '')), 30_000);
      console.log(`\n    302 services: 50 cards drawn, ${await frame.evaluate(() => document.querySelector('.footer')?.textContent)} (${Date.now() - started} ms after reload)`);
      const filter = frame.locator('vscode-text-field input').first();
      await frame.locator('vscode-text-field').first().click();
      await page.keyboard.type('svc-29');
      await waitUntil('filtered', () => frame!.evaluate(() => document.querySelectorAll('.card').length === 10), 10_000);
      void filter;
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Backspace');
      await frame.locator('.page-head vscode-button', { hasText: 'Open Config' }).click();
      await waitUntil('tightloop.yaml editor', () => page.evaluate(() => document.querySelector('.tabs-container .tab.active')?.getAttribute('aria-label')?.includes('tightloop.yaml')), 10_000);
    } finally {
      writeFileSync(config, original);
    }
    await runCommand(page, 'View: Close All Editors');
    await runCommand(page, 'Tightloop: Show Stage Timings');
    frame = await panelFrame(page);
    await waitUntil('back to two cards', () => frame!.evaluate(() => document.querySelectorAll('.card').length === 2), 30_000);
  });

  await step('the panel reads well in dark, light and high-contrast themes', async () => {
    // Full width: no editor beside it.
    await collectCsp();
    await runCommand(page, 'View: Close All Editors');
    for (const [theme, file] of [
      ['Dark Modern', 'panel-dark.png'],
      ['Light Modern', 'panel-light.png'],
      ['Dark High Contrast', 'panel-high-contrast.png'],
      ['Light High Contrast', 'panel-high-contrast-light.png'],
      ['Dark Modern', ''],
    ] as const) {
      await runCommand(page, 'Preferences: Color Theme');
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible' });
      await input.fill(theme);
      await pickRow(page, (label) => label === theme);
      await page.waitForTimeout(500);
      if (!file) continue;
      await runCommand(page, 'Tightloop: Show Stage Timings');
      frame = await panelFrame(page);
      await waitUntil('hello history', () => frame!.evaluate(() => !!document.querySelector('.card[data-service="hello"] details.history .run-row')));
      await frame.evaluate(() => {
        const history = document.querySelector('.card[data-service="hello"] details.history') as HTMLDetailsElement | null;
        if (history && !history.open) history.querySelector('summary')?.click();
      });
      await waitUntil('history open', () => frame!.evaluate(() => (document.querySelector('.card[data-service="hello"] details.history') as HTMLDetailsElement | null)?.open));
      await page.waitForTimeout(800);
      await shootPanel(page, file);
    }
  });

  await step('after "Developer: Reload Window" the serializer restores the panel', async () => {
    await runCommand(page, 'Tightloop: Show Stage Timings');
    frame = await panelFrame(page);
    await collectCsp();
    await runCommand(page, 'Developer: Reload Window');
    await page.waitForTimeout(2000);
    await waitForWorkbench(page);
    frame = await panelFrame(page, 60_000);
    await waitUntil('restored cards', async () => (await waterfallRows(frame!)).length === 7, 30_000);
    await page.screenshot({ path: path.join(RESULTS, 'workbench-after-reload.png') });
  });

  await step('the webview ran under its strict CSP without a single violation', async () => {
    // Our page records every securitypolicyviolation event it sees (see webview/main.ts).
    const seen = await frame!.evaluate(() => (window as unknown as { tightloopCspViolations?: string[] }).tightloopCspViolations);
    if (!Array.isArray(seen)) throw new Error('the panel did not report its CSP status');
    const all = [...cspViolations, ...seen];
    if (all.length) throw new Error(all.join('\n'));
    if (cspErrors.length) console.log(`\n    (${cspErrors.length} console CSP messages from VS Code's own injected default styles; none from the panel)`);
  });
  await page.context().close();
}
