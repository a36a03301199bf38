import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { parseConfigText } from '../../../src/engine/config/load.js';
import type { RunSummary } from '../../../src/engine/types.js';
import type { TightloopApi } from '../../../src/extension/extension.js';
import type { TreeSnapshotNode } from '../../../src/extension/views/services-tree.js';

/**
 * Runs inside the real extension host (extensionTestsPath): the extension's commands, settings,
 * diagnostics and panel through the public VS Code API. Results go to TIGHTLOOP_E2E_RESULTS.
 */

interface Result {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

const results: Result[] = [];
let api: TightloopApi;
let root: string;

async function test(name: string, fn: () => Promise<void>): Promise<void> {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - started });
  } catch (error) {
    results.push({ name, ok: false, ms: Date.now() - started, error: (error as Error).stack ?? String(error) });
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeout = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() - started > timeout) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cmd = <T>(id: string, ...args: unknown[]) => vscode.commands.executeCommand<T>(id, ...args);
const configPath = () => path.join(root, 'tightloop.yaml');

async function editAndSave(file: string, change: (text: string) => string): Promise<vscode.TextDocument> {
  const doc = await vscode.workspace.openTextDocument(file);
  const edit = new vscode.WorkspaceEdit();
  edit.replace(doc.uri, new vscode.Range(0, 0, doc.lineCount, 0), change(doc.getText()));
  assert(await vscode.workspace.applyEdit(edit), `edit of ${file} not applied`);
  assert(await doc.save(), `save of ${file} failed`);
  return doc;
}

/** A node of the Tightloop view by key, as VS Code received it. */
function treeNode(key: string, nodes: TreeSnapshotNode[] = api.tree()): TreeSnapshotNode | undefined {
  for (const n of nodes) {
    if (n.key === key) return n;
    const found = treeNode(key, n.children);
    if (found) return found;
  }
  return undefined;
}

/** Polls the view until `done` holds, recording every distinct icon+description of `key` seen on the way. */
async function watchRow(key: string, done: (n: TreeSnapshotNode) => boolean, timeout = 90_000): Promise<string[]> {
  const seen: string[] = [];
  await until(`${key} in the view`, () => {
    const n = treeNode(key);
    const picture = n ? `${n.icon} ${n.description}` : 'missing';
    if (seen.at(-1) !== picture) seen.push(picture);
    return n && done(n);
  }, timeout);
  return seen;
}

function historyLength(name: string): number {
  const file = path.join(root, '.tightloop', 'history.jsonl');
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(`"service":"${name}"`)).length;
}

export async function run(): Promise<void> {
  root = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
  const extension = vscode.extensions.getExtension<TightloopApi>('tightloop.tightloop');
  assert(extension, 'extension tightloop.tightloop not found');
  api = await extension.activate();
  await api.settled();

  await test('activation finds tightloop.yaml, loads the engine and registers every command', async () => {
    await until('phase ready', () => api.snapshot().phase.kind === 'ready');
    const declared = (extension.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = declared.filter((c) => !registered.has(c));
    assert(missing.length === 0, `not registered: ${missing.join(', ')}`);
    assert(declared.length === 16, `expected 16 commands, got ${declared.length}`);
  });

  await test('the Tightloop view shows the cluster header, the service and the task from the run model', async () => {
    const header = await until('header', () => treeNode('header'));
    assert(header.label === 'kind-e2e' && header.description === 'default' && header.icon === 'server-environment', `header ${JSON.stringify(header)}`);
    assert(header.command === 'tightloop.runDoctor', 'header click should run the doctor');
    const keys = api.tree().map((n) => n.key);
    assert(keys.join(',') === 'header,group/services,group/tasks', `roots ${keys.join(',')}`);
    const hello = treeNode('service/hello')!;
    assert(hello.icon === 'circle-large-outline' && hello.description === 'not run yet', `hello ${JSON.stringify(hello)}`);
    assert(hello.contextValue === 'service idle auto', `contextValue ${hello.contextValue}`);
    assert(treeNode('task/version-check')?.contextValue === 'task idle', 'task row');
  });

  await test('the view\'s inline Rebuild runs hello for real: running → ok, and only its rows are refreshed', async () => {
    await api.whenIdle();
    const element = api.treeElement('service/hello');
    assert(element?.service === 'hello', 'no element for the hello row');
    const eventsBefore = api.treeEvents().length;
    // What VS Code passes when the row's inline button is clicked: the row's element.
    const running = cmd<RunSummary[]>('tightloop.rebuildService', element);
    const seen = await watchRow('service/hello', (n) => n.icon === 'pass');
    const [summary] = (await running)!;
    assert(summary?.status === 'ok', `run ${summary?.status}: ${summary?.error}`);
    assert(seen.some((s) => /^sync~spin running (compile|stage|image|push|deploy|ready|trigger)/.test(s)), `never seen running with a stage: ${seen.join(' | ')}`);
    const hello = treeNode('service/hello')!;
    assert(/^ok · \d/.test(hello.description ?? ''), `description ${hello.description}`);
    assert(hello.color === 'testing.iconPassed', `colour ${hello.color}`);
    // The fake cluster's pod, reported by the ready stage: ready, no restarts.
    const pods = hello.children.filter((c) => c.key.startsWith('service/hello/pod/'));
    assert(pods.length === 1 && pods[0]!.description === 'ready · 0 restarts', `pods ${JSON.stringify(pods)}`);
    await api.whenIdle();
    const events = api.treeEvents().slice(eventsBefore);
    assert(events.length > 0, 'no change events');
    assert(events.every((e) => e.keys !== 'all' && e.keys.every((k) => k === 'service/hello' || k === 'task/version-check')), `events ${JSON.stringify(events)}`);
  });

  await test('the task row\'s inline Run Task runs it after its dependency', async () => {
    const element = api.treeElement('task/version-check');
    assert(element?.service === 'version-check', 'no element for the task row');
    const before = historyLength('version-check');
    const [summary] = (await cmd<RunSummary[]>('tightloop.runTask', element))!;
    assert(summary?.status === 'ok', `task ${summary?.status}: ${summary?.error}`);
    assert(historyLength('version-check') > before, 'no run recorded');
    await until('task ok in the view', () => treeNode('task/version-check')?.icon === 'pass');
  });

  await test('the mode action: manual collects a save as pending (no run), auto runs it', async () => {
    await api.whenIdle();
    const source = path.join(root, 'src', 'main.c');
    const element = api.treeElement('service/hello');
    assert((await cmd<string>('tightloop.setTriggerManual', element)) === 'manual', 'not switched to manual');
    await until('manual in the view', () => treeNode('service/hello')?.contextValue?.includes('manual'));
    const before = historyLength('hello');
    await editAndSave(source, (t) => `${t}// pending\n`);
    const pending = await until('pending row', () => treeNode('service/hello/pending'), 30_000);
    assert(pending.label === '1 changed file pending', `pending ${pending.label}`);
    assert(historyLength('hello') === before && !api.snapshot().services.find((s) => s.name === 'hello')?.live, 'a manual service ran by itself');
    assert((await cmd<string>('tightloop.setTriggerAuto', element)) === 'auto', 'not switched to auto');
    await until('the pending change ran', () => historyLength('hello') > before, 60_000);
    await api.whenIdle();
    await until('ok, no pending row', () => treeNode('service/hello')?.icon === 'pass' && !treeNode('service/hello/pending'));
    assert(treeNode('service/hello')?.contextValue === 'service idle auto', `contextValue ${treeNode('service/hello')?.contextValue}`);
  });

  await test('Rebuild Service runs every stage for real (compile, image, push, deploy, ready)', async () => {
    const [summary] = (await cmd<RunSummary[]>('tightloop.rebuildService', 'hello'))!;
    assert(summary, 'no summary');
    assert(summary.status === 'ok', `run ${summary.status}: ${summary.error}`);
    const ran = summary.records.filter((r) => r.status === 'ok').map((r) => r.stage);
    for (const stage of ['compile', 'staging'] as const) assert(ran.includes(stage), `${stage} did not run: ${JSON.stringify(summary.records)}`);
    for (const stage of ['image', 'push', 'deploy', 'ready'] as const) {
      const record = summary.records.find((r) => r.stage === stage);
      assert(record && (record.status === 'ok' || (record.status === 'skipped' && /unchanged|exists|identical|nothing was applied/.test(record.detail ?? ''))), `${stage}: ${JSON.stringify(record)}`);
    }
    const status = api.snapshot().status;
    assert(status.kind === 'succeeded' && /^\$\(check\) hello /.test(status.text), `status ${status.text}`);
  });

  await test('Run Task runs a task after its dependency', async () => {
    const [summary] = (await cmd<RunSummary[]>('tightloop.runTask', 'version-check'))!;
    assert(summary?.status === 'ok', `task ${summary?.status}: ${summary?.error}`);
  });

  await test('a config error appears in Problems at the exact range while typing (before save)', async () => {
    const doc = await vscode.workspace.openTextDocument(configPath());
    await vscode.window.showTextDocument(doc);
    const text = doc.getText();
    const at = text.indexOf('timeout: 2m');
    assert(at >= 0, 'example config changed: no "timeout: 2m"');
    const valueStart = doc.positionAt(at + 'timeout: '.length);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(doc.uri, new vscode.Range(valueStart, valueStart.translate(0, 2)), 'soon');
    await vscode.workspace.applyEdit(edit);
    const diagnostic = await until('config diagnostic', () => vscode.languages.getDiagnostics(doc.uri).find((d) => d.message.includes('services.hello.compile.timeout')));
    assert(diagnostic.range.start.isEqual(valueStart), `range starts at ${JSON.stringify(diagnostic.range.start)}, expected ${JSON.stringify(valueStart)}`);
    assert(diagnostic.range.end.isEqual(valueStart.translate(0, 4)), `range ends at ${JSON.stringify(diagnostic.range.end)}`);
    assert(diagnostic.severity === vscode.DiagnosticSeverity.Error, 'not an error');
    await doc.save();
    await until('config-error phase after save', () => api.snapshot().phase.kind === 'config-error');
    await until('the view says the config is broken', () => treeNode('message')?.label === 'tightloop.yaml has 1 problem');
    assert(api.snapshot().status.error, 'status bar not in error colour');
    // Undo: the problem goes away and the engine comes back.
    const fix = new vscode.WorkspaceEdit();
    fix.replace(doc.uri, new vscode.Range(valueStart, valueStart.translate(0, 4)), '2m');
    await vscode.workspace.applyEdit(fix);
    await doc.save();
    await until('problem cleared', () => !vscode.languages.getDiagnostics(doc.uri).some((d) => d.source === 'tightloop'));
    await until('ready again', () => api.snapshot().phase.kind === 'ready');
  });

  await test('compiler errors from gcc appear in Problems and the next success clears them', async () => {
    const source = path.join(root, 'src', 'main.c');
    const original = readFileSync(source, 'utf8');
    try {
      const doc = await editAndSave(source, (t) => `${t}\nint tightloop_broken(void) { return undefined_symbol_e2e; }\n`);
      const problem = await until('gcc diagnostic', () => vscode.languages.getDiagnostics(doc.uri).find((d) => /undefined_symbol_e2e/.test(d.message)), 60_000);
      assert(problem.severity === vscode.DiagnosticSeverity.Error, 'gcc error is not an error');
      assert(problem.range.start.line === doc.lineCount - 2, `error on line ${problem.range.start.line}, expected ${doc.lineCount - 2}`);
      await until('failed status', () => api.snapshot().status.kind === 'failed');
      assert(/hello: compile failed/.test(api.snapshot().status.text), api.snapshot().status.text);
      const row = await until('failed row in the view', () => {
        const n = treeNode('service/hello');
        return n?.icon === 'error' ? n : undefined;
      });
      assert(/^failed at compile · /.test(row.description ?? ''), `description ${row.description}`);
      const failure = treeNode('service/hello/failure');
      assert(failure && /compile/.test(failure.label) && failure.command === 'tightloop.showStageTimings', `failure child ${JSON.stringify(failure)}`);
    } finally {
      await editAndSave(source, () => original);
    }
    await until('diagnostics cleared by success', () => !vscode.languages.getDiagnostics(vscode.Uri.file(source)).some((d) => /undefined_symbol_e2e/.test(d.message)), 60_000);
    await until('succeeded status', () => api.snapshot().status.kind === 'succeeded', 60_000);
  });

  await test('Toggle Auto-Rebuild on Save turns save triggers off and on', async () => {
    const source = path.join(root, 'src', 'main.c');
    await api.whenIdle();
    const on = await cmd<boolean>('tightloop.toggleAutoRebuild');
    assert(on === false, 'first toggle should turn it off');
    assert(vscode.workspace.getConfiguration('tightloop').get('autoRebuildOnSave') === false, 'setting not written');
    const before = historyLength('hello');
    await editAndSave(source, (t) => `${t}// off\n`);
    await new Promise((r) => setTimeout(r, 1500));
    await api.whenIdle();
    assert(historyLength('hello') === before, 'a save triggered a run while auto-rebuild was off');
    assert(/Auto-rebuild on save: \*\*off\*\*/.test(api.snapshot().status.tooltip), 'tooltip does not say off');
    assert((await cmd<boolean>('tightloop.toggleAutoRebuild')) === true, 'second toggle should turn it on');
    await until('setting on', () => api.snapshot().settings.autoRebuildOnSave === true);
    await new Promise((r) => setTimeout(r, 300));
    await editAndSave(source, (t) => `${t}// on\n`);
    await until('a save-triggered run', () => historyLength('hello') > before, 60_000);
    await api.whenIdle();
    await new Promise((r) => setTimeout(r, 500));
    await api.whenIdle();
    const runs = readFileSync(path.join(root, '.tightloop', 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunSummary).filter((r) => r.service === 'hello').slice(before);
    assert(runs.length === 1, `one save gave ${runs.length} runs: ${runs.map((r) => `${r.trigger.reason}/${r.status}${r.error ? ` (${r.error})` : ''}`).join(', ')}`);
  });

  await test('Cancel Current Run stops a running task', async () => {
    const original = readFileSync(configPath(), 'utf8');
    try {
      writeFileSync(configPath(), `${original.trimEnd()}\n  slow-e2e:\n    command: sleep 30\n`);
      await until('engine reloaded with slow-e2e', () => api.snapshot().services.some((s) => s.name === 'slow-e2e') && api.snapshot().phase.kind === 'ready');
      const running = cmd<RunSummary[]>('tightloop.runTask', 'slow-e2e');
      await until('slow-e2e running', () => api.snapshot().services.find((s) => s.name === 'slow-e2e')?.live);
      const started = Date.now();
      const cancelled = await cmd<string[]>('tightloop.cancelRun');
      assert(cancelled.includes('slow-e2e'), `cancelled ${JSON.stringify(cancelled)}`);
      const [summary] = (await running)!;
      assert(summary?.status === 'cancelled', `status ${summary?.status}`);
      assert(Date.now() - started < 5000, 'cancel took too long');
    } finally {
      writeFileSync(configPath(), original);
    }
    await until('engine back without slow-e2e', () => !api.snapshot().services.some((s) => s.name === 'slow-e2e') && api.snapshot().phase.kind === 'ready');
  });

  await test('Run Doctor reports the config, Docker and the cluster', async () => {
    const results = (await cmd<{ check: string; status: string; message: string }[]>('tightloop.runDoctor'))!;
    assert(results.some((r) => r.check === 'config' && r.status === 'ok'), JSON.stringify(results));
    assert(results.length > 1, `only ${results.length} check(s)`);
  });

  await test('Show Stage Timings opens the webview panel', async () => {
    await cmd('tightloop.showStageTimings', 'hello');
    const tab = await until('panel tab', () =>
      vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('tightloop.timings')),
    );
    assert(tab.label === 'Tightloop: Stage Timings', `label ${tab.label}`);
  });

  await test('100 × open/close Stage Timings and 100 × toggle auto-rebuild leave no listener, webview or disposable behind', async () => {
    const webviewTabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('tightloop.timings'));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await until('no panel open', () => api.counts().panels === 0 && webviewTabs().length === 0);
    await api.whenIdle();
    const before = api.counts();
    for (let i = 0; i < 100; i++) {
      await cmd('tightloop.showStageTimings', 'hello');
      await until(`panel ${i} open`, () => api.counts().panels === 1 && webviewTabs().length === 1);
      await vscode.window.tabGroups.close(webviewTabs());
      await until(`panel ${i} closed`, () => api.counts().panels === 0 && webviewTabs().length === 0);
    }
    const initial = api.snapshot().settings.autoRebuildOnSave;
    for (let i = 0; i < 100; i++) {
      const on = await cmd<boolean>('tightloop.toggleAutoRebuild');
      await until(`toggle ${i} applied`, () => api.snapshot().settings.autoRebuildOnSave === on);
      await api.settled();
      await until(`watcher ${on ? 'on' : 'off'} after toggle ${i}`, () => api.counts().watching === on);
    }
    assert(api.snapshot().settings.autoRebuildOnSave === initial, 'an even number of toggles ends where it started');
    const after = api.counts();
    assert(JSON.stringify(after) === JSON.stringify(before), `left behind:\n before ${JSON.stringify(before)}\n after  ${JSON.stringify(after)}`);
  });

  await test('Create Config writes a valid starter config from the Dockerfile and the Kubernetes manifest', async () => {
    const moved = path.join(root, 'tightloop.yaml.e2e-backup');
    renameSync(configPath(), moved);
    try {
      await until('no-config phase', () => api.snapshot().phase.kind === 'no-config');
      // Empty: VS Code shows the view's welcome content (Create Config, the docs).
      await until('empty view', () => api.tree().length === 0);
      assert(api.snapshot().status.command.command === 'tightloop.createConfig', 'status click should create a config');
      const written = await cmd<string>('tightloop.createConfig');
      assert(written === configPath(), `wrote ${written}`);
      const text = readFileSync(configPath(), 'utf8');
      const { issues, config } = parseConfigText(text, configPath());
      assert(issues.length === 0, `generated config has problems: ${JSON.stringify(issues)}\n${text}`);
      assert(config!.services.app?.deploy?.workload === 'deployment/hello', `workload not matched:\n${text}`);
      await until('engine loaded from the generated config', () => api.snapshot().phase.kind === 'ready' && api.snapshot().services.some((s) => s.name === 'app'));
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      renameSync(moved, configPath());
    }
    await until('original config back', () => api.snapshot().services.some((s) => s.name === 'hello') && api.snapshot().phase.kind === 'ready');
  });

  const file = process.env.TIGHTLOOP_E2E_RESULTS;
  if (file) writeFileSync(file, JSON.stringify(results, null, 2));
  const failed = results.filter((r) => !r.ok);
  if (failed.length) throw new Error(`${failed.length} in-host test(s) failed: ${failed.map((f) => f.name).join('; ')}`);
}
