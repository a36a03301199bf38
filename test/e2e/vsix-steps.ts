import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { copyExample, NODE24, onCleanup, ROOT, SERVER_MAIN, startServer, workbenchUrl } from './infra.js';
import { panelFrame, runCommand, waitForStatus, waitForWorkbench, waitUntil } from './workbench.js';

/**
 * The .vsix as users get it: production build, `vsce package`, installed by the VS Code server
 * (not loaded from the source tree), then used. Catches a .vscodeignore that leaves out a file.
 */
export async function vsixSteps(ctx: {
  browser: Browser;
  env: NodeJS.ProcessEnv;
  step(name: string, fn: () => Promise<void>): Promise<boolean>;
  newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }>;
}): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-e2e-vsix-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const vsix = path.join(dir, 'tightloop.vsix');
  const extensions = path.join(dir, 'extensions');
  let packaged = false as boolean; // set by the step below when it passes
  await ctx.step('the production build packages into a small .vsix', async () => {
    // As users package it: `vsce package` runs `vscode:prepublish` (the production build) itself.
    // README links are relative; without a repository URL vsce cannot rewrite them.
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/@vscode/vsce/vsce'), 'package', '--no-dependencies', '--no-rewrite-relative-links', '-o', vsix], { cwd: ROOT, stdio: 'pipe' });
    // The extension and the integration files it requires on first use (scripts/build.mjs).
    for (const file of ['extension.cjs', 'integrations-docker.cjs', 'integrations-kube.cjs']) {
      const bundle = readFileSync(path.join(ROOT, 'dist', file), 'utf8');
      if (/sourceMappingURL/.test(bundle)) throw new Error(`vscode:prepublish did not make the production bundle: dist/${file} points at a source map the .vsix leaves out`);
    }
    // What the .vsix holds, as vsce lists it from .vscodeignore.
    const listed = execFileSync(process.execPath, [path.join(ROOT, 'node_modules/@vscode/vsce/vsce'), 'ls', '--no-dependencies'], { cwd: ROOT, encoding: 'utf8' }).split('\n');
    for (const file of ['extension.cjs', 'integrations-docker.cjs', 'integrations-kube.cjs']) {
      if (!listed.includes(`dist/${file}`)) throw new Error(`the .vsix leaves out dist/${file} (.vscodeignore)`);
    }
    const size = statSync(vsix).size;
    console.log(`\n    ${path.basename(vsix)}: ${(size / 1024).toFixed(0)} KiB`);
    if (size > 2 * 1024 * 1024) throw new Error(`the .vsix is ${size} bytes`);
    packaged = true;
  });
  if (!packaged) return;

  await ctx.step('the installed .vsix activates, builds, and shows its panel', async () => {
    execFileSync(NODE24, [SERVER_MAIN, '--install-extension', vsix, '--extensions-dir', extensions, '--accept-server-license-terms'], { env: ctx.env, stdio: 'pipe' });
    const server = await startServer({ env: ctx.env, trust: true, extensionsDir: extensions });
    const workspace = copyExample();
    const { page, context } = await ctx.newPage(ctx.browser);
    try {
      await page.goto(workbenchUrl(server, workspace, []));
      await waitForWorkbench(page);
      await waitForStatus(page, /^Tightloop: (?!.*loading)/, 60_000);
      await runCommand(page, 'Tightloop: Rebuild All');
      await waitForStatus(page, /^Tightloop: hello \d/, 90_000);
      await runCommand(page, 'Tightloop: Show Stage Timings');
      const frame = await panelFrame(page);
      await waitUntil('waterfall', () => frame.evaluate(() => document.querySelectorAll('.card[data-service="hello"] .wf-row').length === 7));
      const styled = await frame.evaluate(() => getComputedStyle(document.querySelector('.card')!).borderLeftWidth);
      if (styled !== '4px') throw new Error(`panel.css not applied (card border ${styled})`);
    } finally {
      await context.close();
    }
  });
}
