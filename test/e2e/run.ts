/**
 * End-to-end tests of the extension in a real VS Code (code-server's bundled server + Chromium),
 * with the real Docker engine and registry and the fake Kubernetes API server.
 *
 *   node --import tsx test/e2e/run.ts        (after scripts/e2e-setup.sh and scripts/services.sh start)
 *
 * The fake Kubernetes API server (test/fake-kube) runs in this process, empty: the example's
 * manifests are applied by the extension itself; the VS Code server gets its kubeconfig through
 * KUBECONFIG, so deploy and ready run.
 *
 * Builds the extension, copies examples/hello-service to a temp dir, starts everything on free
 * loopback ports, runs the UI steps and the in-extension-host suite, saves screenshots under
 * test-results/, stops what it started by PID, and ends with "N passed, N failed".
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, cleanupAll, copyExample, RESULTS, remoteUri, requirePrerequisites, ROOT, startFakeCluster, startServer, workbenchUrl, type Server } from './infra.js';
import { emptyFolderSteps, treeSteps } from './tree-steps.js';
import { uiSteps } from './ui-steps.js';

/** TIGHTLOOP_E2E_ONLY=tree,host runs only those parts (ui, tree, host, untrusted, vsix); default all. */
const only = (process.env.TIGHTLOOP_E2E_ONLY ?? '').split(',').filter(Boolean);
const part = (name: string) => only.length === 0 || only.includes(name);

interface Outcome {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

const outcomes: Outcome[] = [];
/** The page a failing step is screenshotted from. */
let currentPage: Page | undefined;

export function setCurrentPage(page: Page | undefined): void {
  currentPage = page;
}

export async function step(name: string, fn: () => Promise<void>): Promise<boolean> {
  const started = Date.now();
  process.stdout.write(`• ${name} … `);
  try {
    await fn();
    outcomes.push({ name, ok: true, ms: Date.now() - started });
    console.log(`ok (${Date.now() - started} ms)`);
    return true;
  } catch (error) {
    const message = (error as Error).stack ?? String(error);
    outcomes.push({ name, ok: false, ms: Date.now() - started, error: message });
    const shot = path.join(RESULTS, `failed-${outcomes.length}.png`);
    await currentPage?.screenshot({ path: shot }).catch(() => {});
    console.log(`FAILED\n    ${message.split('\n').slice(0, 6).join('\n    ')}\n    (screenshot: test-results/failed-${outcomes.length}.png)`);
    return false;
  }
}

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Only loopback: the workbench would otherwise look up open-vsx.org and friends.
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
];

export async function newPage(browser: Browser, theme?: 'light'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, ...(theme && { colorScheme: theme }) });
  await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname) && !url.protocol.startsWith('data') && !url.protocol.startsWith('blob'), (route) => route.abort());
  // Loading the workbench on a loaded 2-core machine can take well over the 30 s default.
  context.setDefaultNavigationTimeout(120_000);
  const page = await context.newPage();
  setCurrentPage(page);
  return { context, page };
}

function build(): void {
  // The lead's build script is the real one; it writes dist/extension.cjs and dist/webview.js.
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
  for (const out of ['dist/extension.cjs', 'dist/webview.js']) if (!existsSync(path.join(ROOT, out))) throw new Error(`build did not produce ${out}`);
}

async function buildHostSuite(): Promise<string> {
  const outdir = path.join(ROOT, '.cache', 'e2e');
  mkdirSync(outdir, { recursive: true });
  const outfile = path.join(outdir, 'host-suite.cjs');
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'test/e2e/host/suite.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'warning',
  });
  return outfile;
}

/** Loads the workbench with extensionTestsPath; the harness calls codeAutomationExit(code) when done. */
async function runHostSuite(browser: Browser, server: Server, suite: string, resultsFile: string): Promise<void> {
  const workspace = copyExample();
  const { context, page } = await newPage(browser);
  const exit = new Promise<number>((resolve) => void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code)));
  await page.goto(workbenchUrl(server, workspace, [
    ['extensionDevelopmentPath', remoteUri(server, ROOT)],
    ['extensionTestsPath', remoteUri(server, suite)],
  ]), { timeout: 180_000 }); // the first workbench load on a loaded 2-core machine can take over 30 s
  const code = await Promise.race([exit, new Promise<number>((r) => setTimeout(() => r(-1), 10 * 60_000))]);
  await page.screenshot({ path: path.join(RESULTS, 'host-suite-end.png') }).catch(() => {});
  await context.close();
  const results = existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as Outcome[]) : [];
  for (const r of results) {
    outcomes.push({ ...r, name: `[extension host] ${r.name}` });
    console.log(`• [extension host] ${r.name} … ${r.ok ? `ok (${r.ms} ms)` : `FAILED\n    ${(r.error ?? '').split('\n').slice(0, 6).join('\n    ')}`}`);
  }
  if (results.length === 0) outcomes.push({ name: '[extension host] suite', ok: false, ms: 0, error: `no results (exit code ${code})` });
  else if (code !== 0 && results.every((r) => r.ok)) outcomes.push({ name: '[extension host] harness exit code', ok: false, ms: 0, error: `exit code ${code}` });
}

async function main(): Promise<void> {
  await requirePrerequisites();
  rmSync(RESULTS, { recursive: true, force: true });
  mkdirSync(RESULTS, { recursive: true });
  build();
  const suite = await buildHostSuite();
  const workspace = copyExample();
  const fake = await startFakeCluster();
  const resultsFile = path.join(os.tmpdir(), `tl-e2e-host-${process.pid}.json`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: fake.kubeconfigPath,
    TIGHTLOOP_E2E_RESULTS: resultsFile,
    // The server's own gallery/update requests go to a dead loopback proxy, never outside.
    HTTPS_PROXY: 'http://127.0.0.1:9',
    HTTP_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '127.0.0.1,localhost',
  };
  const server = await startServer({ env, trust: true });
  console.log(`VS Code server on ${server.url}; fake Kubernetes API on ${fake.url}; workspace ${workspace}`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    if (part('ui')) await uiSteps({ browser, server, workspace, fake, step, newPage });
    if (part('tree')) {
      await treeSteps({ browser, server, workspace, step, newPage });
      await emptyFolderSteps({ browser, server, step, newPage });
    }
    if (part('host')) {
      console.log('• in-extension-host suite (extensionTestsPath) …');
      await runHostSuite(browser, server, suite, resultsFile).catch((error: Error) => {
        outcomes.push({ name: '[extension host] suite', ok: false, ms: 0, error: error.stack ?? String(error) });
        console.log(`  FAILED: ${error.message}`);
      });
    }
    if (part('untrusted')) {
      const untrustedServer = await startServer({ env, trust: false });
      const { untrustedSteps } = await import('./untrusted-steps.js');
      await untrustedSteps({ browser, server: untrustedServer, step, newPage });
    }
    if (part('vsix')) {
      const { vsixSteps } = await import('./vsix-steps.js');
      await vsixSteps({ browser, env, step, newPage });
    }
  } finally {
    await browser.close().catch(() => {});
    rmSync(resultsFile, { force: true });
  }
}

let fatal: unknown;
try {
  await main();
} catch (error) {
  fatal = error;
  console.error(`fatal: ${(error as Error).stack ?? error}`);
} finally {
  await cleanupAll();
}
const passed = outcomes.filter((o) => o.ok).length;
const failed = outcomes.length - passed + (fatal ? 1 : 0);
console.log(`screenshots: ${RESULTS}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
