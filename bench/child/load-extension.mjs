// Activation of a built extension bundle, in a fresh plain `node` process (no tsx hooks: they would
// be in the measured require). Usage: node load-extension.mjs DIST_DIR [WORKSPACE]
// Prints one JSON line, in milliseconds: `requireMs` (require DIST_DIR/extension.cjs), `activateMs`
// (its activate(): together what VS Code reports as the activation time) and, with a WORKSPACE
// holding a tightloop.yaml, `readyMs`: activate() → the engine for that config loaded, with the
// integrations it needs (what a workspace waits for before its first run).
// An ES module only to please the linter: the bundle itself is required as CommonJS, as VS Code does.
import { readdirSync, readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const __dirname = path.dirname(fileURLToPath(import.meta.url));

const dist = path.resolve(process.argv[2] ?? 'dist');
const workspace = process.argv[3] && path.resolve(process.argv[3]);

// `vscode` is the editor's, resolved by VS Code at require time: here a stand-in that accepts every
// call activate() makes (registering commands, creating the status bar, tree, output channel, …).
const STUB = path.join(__dirname, 'vscode-stand-in');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'vscode' ? STUB : resolve.call(this, request, ...rest);
};
require.cache[STUB] = { id: STUB, filename: STUB, loaded: true, exports: vscodeApi() };

/**
 * The bundle copies the module's own keys (esbuild's __toESM), so the names the extension uses
 * (`vscode.window`, `vscode.Uri`, …) are read from its sources and made real keys. The workspace
 * is real where discovery reads it: the config file, trust, settings at their defaults.
 */
function vscodeApi() {
  const api = {};
  const sources = path.join(__dirname, '../../src/extension');
  for (const file of readdirSync(sources, { recursive: true })) {
    if (!file.endsWith('.ts')) continue;
    for (const [, name] of readFileSync(path.join(sources, file), 'utf8').matchAll(/\bvscode\.([A-Za-z]\w*)/g)) api[name] ??= standIn(`vscode.${name}`);
  }
  api.workspace = standIn('vscode.workspace', Object.assign(writable(function () {}), {
    isTrusted: true,
    textDocuments: [],
    workspaceFolders: workspace ? [{ uri: { fsPath: workspace, scheme: 'file' }, name: path.basename(workspace), index: 0 }] : undefined,
    findFiles: async () => (workspace ? [{ fsPath: path.join(workspace, 'tightloop.yaml'), scheme: 'file' }] : []),
    getConfiguration: () => ({ get: (_key, fallback) => fallback, has: () => false, inspect: () => undefined, update: async () => {} }),
  }));
  return api;
}

/** Any property is another stand-in (stable per name); calls and `new` give one; set values stay. */
function standIn(name, target = writable(function () {})) {
  const children = new Map();
  return new Proxy(target, {
    get(t, key) {
      if (Reflect.has(t, key)) return Reflect.get(t, key);
      if (key === 'then') return undefined; // not a promise
      if (key === Symbol.toPrimitive) return () => name;
      if (key === Symbol.iterator) return function* () {};
      if (!children.has(key)) children.set(key, standIn(`${name}.${String(key)}`));
      return children.get(key);
    },
    apply: () => standIn(`${name}()`),
    construct: () => standIn(`new ${name}`),
  });
}

/** A function whose `name` and `length` an object returned by the API may be given (`item.name = …`). */
function writable(fn) {
  for (const key of ['name', 'length']) Object.defineProperty(fn, key, { value: undefined, writable: true, configurable: true });
  return fn;
}

async function main() {
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  const c0 = cpu();
  const t0 = performance.now();
  const extension = require(path.join(dist, 'extension.cjs'));
  const t1 = performance.now();
  const c1 = cpu();
  const context = standIn('context');
  context.subscriptions = [];
  context.extensionUri = { fsPath: path.dirname(dist), scheme: 'file' };
  const api = extension.activate(context);
  const t2 = performance.now();
  const out = { requireMs: t1 - t0, activateMs: t2 - t1, requireCpuMs: c1 - c0, activateCpuMs: cpu() - c1 };
  if (workspace) {
    await api.settled();
    out.readyMs = performance.now() - t1;
    out.readyCpuMs = cpu() - c1;
    // The engine must really be there, with its services: otherwise the figure timed a failure.
    const snapshot = api.snapshot();
    out.phase = snapshot.phase.kind;
    out.services = snapshot.services.map((s) => s.name);
    await extension.deactivate();
  }
  out.modules = Object.keys(require.cache).filter((f) => f.startsWith(dist)).map((f) => path.basename(f));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error && error.stack}\n`);
    process.exit(1);
  },
);
