import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort, onCleanup, RESULTS, remoteUri, ROOT, workbenchUrl, type Server } from './infra.js';
import { caretToEnd, openFile, pickRow, runCommand, waitForStatus, waitForWorkbench, waitUntil } from './workbench.js';

/** The Tightloop view (activity bar) as a person uses it: rows, their icons and inline buttons. */

export interface TreeContext {
  browser: Browser;
  server: Server;
  workspace: string;
  step(name: string, fn: () => Promise<void>): Promise<boolean>;
  newPage(browser: Browser, theme?: 'light'): Promise<{ context: BrowserContext; page: Page }>;
}

const SIDEBAR = '.part.sidebar';

/** Shows the Tightloop view container (click on its activity-bar icon unless it is showing). */
export async function showView(page: Page): Promise<void> {
  const pane = page.locator(`${SIDEBAR} .composite.title`, { hasText: /tightloop/i });
  if (await pane.first().isVisible().catch(() => false)) return;
  await page.locator('.part.activitybar .action-item a.action-label[aria-label^="Tightloop"]').first().click();
  await pane.first().waitFor({ state: 'visible', timeout: 15_000 });
}

function row(page: Page, name: string) {
  return page.locator(`${SIDEBAR} .monaco-list-row[aria-label^="${name}, "]`).first();
}

/** The row's accessible label ("hello, ok · 1.23 s") and its icon's codicon class. */
async function rowState(page: Page, name: string): Promise<{ label: string; icon: string }> {
  const r = row(page, name);
  const label = (await r.getAttribute('aria-label', { timeout: 2_000 })) ?? '';
  const icon = await r
    .locator('.custom-view-tree-node-item-icon')
    .first()
    .evaluate((el) => Array.from(el.classList).filter((c) => c.startsWith('codicon-')).join(' '))
    .catch(() => '');
  return { label, icon };
}

/** Polls a row until `done`, recording each distinct state it passed through. */
async function watchRow(page: Page, name: string, done: (s: { label: string; icon: string }) => boolean, timeout = 90_000): Promise<string[]> {
  const seen: string[] = [];
  await waitUntil(
    `${name} row`,
    async () => {
      const s = await rowState(page, name);
      const text = `${s.icon} | ${s.label}`;
      if (seen.at(-1) !== text) seen.push(text);
      return done(s);
    },
    timeout,
    50,
  );
  return seen;
}

/** Clicks the row's inline action whose accessible label starts with `title` (hover shows them). */
async function clickInline(page: Page, name: string, title: string): Promise<void> {
  const r = row(page, name);
  await r.hover();
  await r.locator(`.actions .action-label[aria-label^="${title}"]`).first().click({ timeout: 10_000 });
}

function historyRuns(workspace: string, name: string): number {
  const file = path.join(workspace, '.tightloop', 'history.jsonl');
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(`"service":"${name}"`)).length;
}

async function setTheme(page: Page, theme: string): Promise<void> {
  const light = theme.startsWith('Light');
  const current = () => page.evaluate((l) => document.querySelector('.monaco-workbench')?.classList.contains(l ? 'vs' : 'vs-dark') ?? false, light);
  if (await current()) return;
  // On a loaded machine the theme list of a fresh window can still be filling: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      await runCommand(page, 'Preferences: Color Theme');
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible' });
      await input.fill(theme);
      await pickRow(page, (label) => label === theme);
      break;
    } catch (error) {
      if (attempt === 3) throw error;
      await page.keyboard.press('Escape');
    }
  }
  await page.waitForFunction((light) => document.querySelector('.monaco-workbench')?.classList.contains(light ? 'vs' : 'vs-dark'), theme.startsWith('Light'), { timeout: 10_000 });
}

/** The side bar down to its last row or welcome text (not the empty space below). */
export async function shootSidebar(page: Page, file: string): Promise<void> {
  await page.mouse.move(900, 450);
  const clip = await page.locator(SIDEBAR).evaluate((bar) => {
    const box = bar.getBoundingClientRect();
    const parts = Array.from(bar.querySelectorAll('.monaco-list-row, .welcome-view-content > *')).map((e) => e.getBoundingClientRect().bottom);
    const bottom = Math.min(box.bottom, Math.max(box.top + 160, ...parts.map((b) => b + 16)));
    return { x: box.left, y: box.top, width: box.width, height: bottom - box.top };
  });
  await page.screenshot({ path: path.join(RESULTS, file), clip });
}

export async function treeSteps(ctx: TreeContext): Promise<void> {
  const { page, context } = await ctx.newPage(ctx.browser);
  const { step } = ctx;
  const shown = await step('the Tightloop view in the activity bar shows the example\'s service, its task and the cluster', async () => {
    await page.goto(workbenchUrl(ctx.server, ctx.workspace, [['extensionDevelopmentPath', remoteUri(ctx.server, ROOT)]]));
    await waitForWorkbench(page);
    await waitForStatus(page, /^Tightloop: (?!.*loading)/, 60_000);
    if (await page.locator('.part.auxiliarybar').isVisible().catch(() => false)) await page.keyboard.press('Control+Alt+B');
    await setTheme(page, 'Dark Modern');
    await showView(page);
    await row(page, 'hello').waitFor({ timeout: 30_000 });
    await row(page, 'version-check').waitFor({ timeout: 10_000 });
    await page.locator(`${SIDEBAR} .monaco-list-row[aria-label^="Cluster kind-e2e, namespace default"]`).first().waitFor({ timeout: 10_000 });
  });
  if (!shown) {
    await context.close();
    return;
  }

  await step('a click on hello\'s inline Rebuild runs it: the icon goes running → ok', async () => {
    const before = historyRuns(ctx.workspace, 'hello');
    await clickInline(page, 'hello', 'Rebuild');
    const seen = await watchRow(page, 'hello', (s) => historyRuns(ctx.workspace, 'hello') > before && /^hello, ok · /.test(s.label));
    const running = seen.findIndex((s) => /codicon-sync\b.*\| hello, running (trigger|compile|stage|live|image|push|deploy|ready)/.test(s));
    // The row may still show the previous run's ok before the click lands: the ok that counts comes after running.
    const ok = seen.findIndex((s, i) => i > running && /codicon-pass\b.*\| hello, ok · /.test(s));
    if (running < 0 || ok < running) throw new Error(`states seen: ${seen.join(' → ')}`);
    console.log(`\n    ${seen.map((s) => s.split(' | ')[1]).join(' → ')}`);
    await shootSidebar(page, 'tree-dark.png');
  });

  await step('a failing compile shows the failed stage in the view and the cause under it', async () => {
    await openFile(page, 'main.c');
    await caretToEnd(page);
    // On a line of its own: the file may end in a comment line without a newline.
    await page.keyboard.press('Enter');
    await page.keyboard.type('int broken_by_tree_e2e(void) { return missing_tree_symbol; }');
    await page.keyboard.press('Control+S');
    await showView(page);
    await watchRow(page, 'hello', (s) => /^hello, failed at compile · /.test(s.label) && /codicon-error/.test(s.icon), 60_000);
    const failure = page.locator(`${SIDEBAR} .monaco-list-row[aria-label^="hello failed: compile"]`).first();
    await failure.waitFor({ timeout: 10_000 });
    await shootSidebar(page, 'tree-failed-dark.png');
    // Fix it: the row goes back to ok and the failure line goes away.
    await openFile(page, 'main.c');
    await caretToEnd(page);
    await page.keyboard.press('Control+Shift+K');
    await page.keyboard.press('Control+S');
    await watchRow(page, 'hello', (s) => /^hello, ok · /.test(s.label), 60_000);
    await failure.waitFor({ state: 'detached', timeout: 10_000 });
  });

  await step('a task runs from its inline Run Task button', async () => {
    await showView(page);
    const before = historyRuns(ctx.workspace, 'version-check');
    await clickInline(page, 'version-check', 'Run Task');
    await waitUntil('a new version-check run', async () => historyRuns(ctx.workspace, 'version-check') > before, 60_000);
    await watchRow(page, 'version-check', (s) => /^version-check, ok · /.test(s.label) && /codicon-pass/.test(s.icon), 30_000);
  });

  await step('a port-forward row opens http://127.0.0.1:PORT in the browser from its inline button', async () => {
    const config = path.join(ctx.workspace, 'tightloop.yaml');
    const original = readFileSync(config, 'utf8');
    const port = await freePort();
    try {
      const changed = original.replace('readyTimeout: 2m }', `readyTimeout: 2m, portForwards: ["${port}:8080"] }`);
      if (changed === original) throw new Error('example config changed: no "readyTimeout: 2m }"');
      // Written outside the editor: the extension reloads the engine and the view lists the forward.
      writeFileSync(config, changed);
      await showView(page);
      const hello = row(page, 'hello');
      await waitUntil('hello has children', async () => (await hello.getAttribute('aria-expanded')) !== null, 60_000);
      if ((await hello.getAttribute('aria-expanded')) === 'false') await hello.locator('.monaco-tl-twistie').click();
      const forward = page.locator(`${SIDEBAR} .monaco-list-row[aria-label^="port-forward 127.0.0.1:${port} to port 8080"]`).first();
      await forward.waitFor({ timeout: 60_000 });
      await shootSidebar(page, 'tree-port-forward-dark.png');
      await forward.hover();
      const popup = context.waitForEvent('page', { timeout: 15_000 });
      await forward.locator('.actions .action-label[aria-label^="Open Port-Forward"]').first().click();
      const opened = await popup;
      await waitUntil('the popup has its URL', async () => opened.url() !== 'about:blank', 10_000).catch(() => undefined);
      if (!opened.url().includes(String(port))) throw new Error(`opened ${opened.url()}`);
      console.log(`\n    opened ${opened.url()}`);
      await opened.close();
    } finally {
      writeFileSync(config, original);
    }
    await waitUntil('forward row gone', async () => (await page.locator(`${SIDEBAR} .monaco-list-row[aria-label^="port-forward 127.0.0.1:${port}"]`).count()) === 0, 30_000);
  });

  await step('the view reads well in the light theme too', async () => {
    await runCommand(page, 'View: Close All Editors');
    await setTheme(page, 'Light Modern');
    await showView(page);
    await row(page, 'hello').waitFor();
    await shootSidebar(page, 'tree-light.png');
    await setTheme(page, 'Dark Modern');
  });
  await context.close();
}

/** A folder without tightloop.yaml: the view shows its welcome content with Create Config. */
export async function emptyFolderSteps(ctx: Omit<TreeContext, 'workspace'>): Promise<void> {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'tl-e2e-empty-'));
  onCleanup(() => rmSync(folder, { recursive: true, force: true }));
  copyFileSync(path.join(ROOT, 'examples/hello-service/src/main.c'), path.join(folder, 'main.c'));
  for (const theme of ['dark', 'light'] as const) {
    const { page, context } = await ctx.newPage(ctx.browser, theme === 'light' ? 'light' : undefined);
    await ctx.step(`the welcome view appears in a folder without tightloop.yaml (${theme})`, async () => {
      await page.goto(workbenchUrl(ctx.server, folder, [['extensionDevelopmentPath', remoteUri(ctx.server, ROOT)]]), { timeout: 120_000 });
      await waitForWorkbench(page);
      await showView(page);
      const welcome = page.locator(`${SIDEBAR} .welcome-view-content`).filter({ hasText: 'No tightloop.yaml in this workspace' }).first();
      await welcome.waitFor({ timeout: 30_000 });
      await welcome.locator('.monaco-button', { hasText: 'Create Config' }).first().waitFor({ timeout: 5_000 });
      await welcome.locator('.monaco-button', { hasText: 'Open the Docs' }).first().waitFor({ timeout: 5_000 });
      // Extensions (the built-in themes too) have registered by now: switch the theme for the shot.
      await setTheme(page, theme === 'light' ? 'Light Modern' : 'Dark Modern');
      await shootSidebar(page, `welcome-${theme}.png`);
      if (theme === 'light') await setTheme(page, 'Dark Modern');
    });
    await context.close();
  }
}
