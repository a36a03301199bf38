import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { existsSync } from 'node:fs';
import { copyExample, RESULTS, remoteUri, ROOT, workbenchUrl, type Server } from './infra.js';
import { shootSidebar, showView } from './tree-steps.js';
import { notifications, runCommand, statusItem, waitForStatus, waitForWorkbench, waitUntil } from './workbench.js';

/** Restricted Mode: the extension activates (limited support) but runs nothing and says why. */
export async function untrustedSteps(ctx: {
  browser: Browser;
  server: Server;
  step(name: string, fn: () => Promise<void>): Promise<boolean>;
  newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }>;
}): Promise<void> {
  const workspace = copyExample();
  const { page, context } = await ctx.newPage(ctx.browser);
  await ctx.step('untrusted workspace: nothing runs, and the status bar and a command say why', async () => {
    await page.goto(workbenchUrl(ctx.server, workspace, [['extensionDevelopmentPath', remoteUri(ctx.server, ROOT)]]));
    await waitForWorkbench(page);
    // The web workbench opens an unknown folder in Restricted Mode (a banner, no dialog).
    await page.locator('.statusbar-item').filter({ hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
    await waitForStatus(page, /^Tightloop: Tightloop$/, 60_000);
    await statusItem(page).hover();
    const hover = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'Restricted Mode' }).first();
    await hover.waitFor({ state: 'visible', timeout: 10_000 });
    await page.screenshot({ path: path.join(RESULTS, 'untrusted.png') });
    await page.mouse.move(700, 300);
    await runCommand(page, 'Tightloop: Rebuild All');
    const text = await waitUntil('the Restricted Mode notification', async () => (await notifications(page)).find((n) => /Restricted Mode/.test(n)), 15_000, 500);
    if (!/runs nothing until you trust the workspace/.test(text)) throw new Error(`notification: ${text}`);
    if (!/Manage Workspace Trust/.test(text)) throw new Error('no "Manage Workspace Trust" button');
    await page.waitForTimeout(1500);
    if (existsSync(path.join(workspace, 'build', 'hello'))) throw new Error('the compile command ran in an untrusted workspace');
    await waitUntil('no history written', async () => !existsSync(path.join(workspace, '.tightloop', 'history.jsonl')), 1000);
  });
  await ctx.step('untrusted workspace: the Tightloop view says why nothing runs and how to trust', async () => {
    await runCommand(page, 'Notifications: Clear All Notifications').catch(() => {});
    await showView(page);
    const welcome = page.locator('.part.sidebar .welcome-view-content').filter({ hasText: 'Restricted Mode' }).first();
    await welcome.waitFor({ timeout: 30_000 });
    const text = await welcome.innerText();
    if (!/runs nothing until you trust the workspace/.test(text)) throw new Error(`welcome: ${text}`);
    await welcome.locator('.monaco-button', { hasText: 'Manage Workspace Trust' }).first().waitFor({ timeout: 5_000 });
    await shootSidebar(page, 'welcome-untrusted.png');
  });
  await context.close();
}
