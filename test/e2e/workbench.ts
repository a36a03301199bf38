import type { Frame, Page } from 'playwright-core';

/** Drives the real VS Code web workbench the way a person does: keyboard, palette, clicks. */

export async function waitForWorkbench(page: Page): Promise<void> {
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  await page.waitForSelector('.statusbar', { timeout: 30_000 });
}

/** F1, type the command's title, pick the row whose label is exactly that title. */
export async function runCommand(page: Page, title: string): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  for (let attempt = 1; ; attempt++) {
    await closeQuickInput(page);
    await page.keyboard.press('F1');
    try {
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await input.fill(`>${title}`, { timeout: 5_000 });
      break;
    } catch (error) {
      if (attempt === 3) throw error;
      // Focus was somewhere that swallowed the keys (a webview being torn down): reset it.
      await page.keyboard.press('Escape');
      await page.locator('.part.sidebar .composite.title').first().click().catch(() => {});
    }
  }
  await pickRow(page, (label) => label === title || label.startsWith(`${title}, `) || label.startsWith(`${title} `));
}

/**
 * Moves the quick-input focus to the first row whose label satisfies `match` and accepts it with
 * Enter (keyboard only: clicking a list that is still filtering can hit the wrong row).
 */
export async function pickRow(page: Page, match: (label: string) => boolean, timeout = 10_000): Promise<void> {
  const started = Date.now();
  let labels: string[] = [];
  while (Date.now() - started < timeout) {
    labels = await page
      .locator('.quick-input-widget .monaco-list-row')
      .evaluateAll((rows) => rows.map((r) => (r.querySelector('.label-name')?.textContent ?? r.getAttribute('aria-label') ?? '').trim()));
    if (labels.some(match)) break;
    await page.waitForTimeout(100);
  }
  for (let i = 0; i < 30; i++) {
    const focused = await page
      .locator('.quick-input-widget .monaco-list-row.focused')
      .first()
      .evaluate((r) => (r.querySelector('.label-name')?.textContent ?? r.getAttribute('aria-label') ?? '').trim())
      .catch(() => '');
    if (focused && match(focused)) {
      await page.keyboard.press('Enter');
      return;
    }
    await page.keyboard.press('ArrowDown');
    await page.waitForTimeout(30);
  }
  throw new Error(`no quick-input row matched; saw ${JSON.stringify(labels)}`);
}

/** Texts of the notifications (opens the notification center). */
export async function notifications(page: Page): Promise<string[]> {
  await runCommand(page, 'Notifications: Show Notifications');
  await page.locator('.notifications-center').waitFor({ state: 'visible', timeout: 10_000 });
  await page.waitForTimeout(300);
  return page.locator('.notifications-center .notifications-list-container .monaco-list-row').evaluateAll((rows) => rows.map((r) => r.textContent));
}

export async function closeQuickInput(page: Page): Promise<void> {
  if (await page.locator('.quick-input-widget').isVisible().catch(() => false)) await page.keyboard.press('Escape');
}

/** Quick Open (Ctrl+P) a file by name. */
export async function openFile(page: Page, name: string): Promise<void> {
  await closeQuickInput(page);
  // Into the first editor group, so a panel beside it stays visible.
  await page.keyboard.press('Control+1');
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(name);
  await page.waitForFunction(
    (wanted) => {
      const row = document.querySelector('.quick-input-widget .monaco-list-row');
      return !!row && (row.getAttribute('aria-label') ?? row.textContent).includes(wanted);
    },
    name,
    { timeout: 10_000 },
  );
  await page.keyboard.press('Enter');
  await page.waitForFunction((wanted) => document.querySelector('.tabs-container .tab.active')?.getAttribute('aria-label')?.includes(wanted), name.split('/').at(-1)!, { timeout: 10_000 });
}

/** Focuses the text editor of the first group (waiting until keys really go there) and goes to its end. */
export async function caretToEnd(page: Page): Promise<void> {
  await page.keyboard.press('Control+1');
  await page.waitForFunction(() => !!document.activeElement?.closest('.editor-group-container.active .monaco-editor'), null, { timeout: 10_000 });
  await page.keyboard.press('Control+End');
  await page.waitForTimeout(100);
}

/** The Tightloop status-bar entry (found by its accessible label). */
export function statusItem(page: Page) {
  return page.locator('.statusbar-item').filter({ has: page.locator('[aria-label^="Tightloop: "]') }).first();
}

export async function statusText(page: Page): Promise<string> {
  return (await statusItem(page).locator('[aria-label^="Tightloop: "]').first().getAttribute('aria-label')) ?? '';
}

export async function waitForStatus(page: Page, predicate: RegExp, timeout = 60_000): Promise<string> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < timeout) {
    last = await statusText(page).catch(() => '');
    if (predicate.test(last)) return last;
    await page.waitForTimeout(100);
  }
  throw new Error(`status bar never matched ${predicate} (last: "${last}")`);
}

/** The frame of our webview (the inner iframe that holds main#app). */
export async function panelFrame(page: Page, timeout = 30_000): Promise<Frame> {
  const started = Date.now();
  while (Date.now() - started < timeout) {
    for (const frame of page.frames()) {
      const found = await frame.evaluate(() => !!document.querySelector('main#app .page-head')).catch(() => false);
      if (found) return frame;
    }
    await page.waitForTimeout(200);
  }
  throw new Error('the Stage Timings webview did not appear');
}

/** The outer <iframe> element of the visible webview, for element screenshots. */
export function panelElement(page: Page) {
  return page.locator('.webview.ready, iframe.webview').first();
}

/** Problems view entries (opens the view). */
export async function problems(page: Page): Promise<string[]> {
  // Ctrl+Shift+M toggles: press it only when the view is not showing.
  if (!(await page.locator('.markers-panel').isVisible().catch(() => false))) await page.keyboard.press('Control+Shift+M');
  await page.waitForSelector('.markers-panel', { timeout: 10_000 });
  await page.waitForTimeout(300);
  return page.locator('.markers-panel .monaco-list-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('aria-label') ?? r.textContent));
}

export async function waitForProblem(page: Page, pattern: RegExp, timeout = 30_000): Promise<string> {
  const started = Date.now();
  let last: string[] = [];
  while (Date.now() - started < timeout) {
    last = await problems(page);
    const hit = last.find((p) => pattern.test(p));
    if (hit) return hit;
    await page.waitForTimeout(300);
  }
  throw new Error(`no problem matching ${pattern} (saw: ${JSON.stringify(last)})`);
}

export async function waitUntil<T>(what: string, fn: () => Promise<T | undefined | false>, timeout = 30_000, every = 200): Promise<T> {
  const started = Date.now();
  let lastError: unknown;
  while (Date.now() - started < timeout) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? ` (${(lastError as Error).message})` : ''}`);
}
