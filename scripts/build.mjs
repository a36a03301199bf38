// Bundles the deliverables with esbuild:
//   dist/cli.cjs       the `tightloop` CLI (CJS, Node)
//   dist/extension.cjs the VS Code extension (CJS, `vscode` external)
//   dist/integrations-docker.cjs, dist/integrations-kube.cjs  the Docker and Kubernetes
//                      integrations, required by both of the above only when an engine needs them
//   dist/webview.js    the panel's browser code (IIFE)
// and the live-update agent (dist/agent/agent-linux-{amd64,arm64}, scripts/build-agent.sh), which the
// .vsix ships and live-mode images carry.
// dockerode's optional native helpers (cpu-features, ssh2's sshcrypto.node) stay external: they are
// loaded in try/catch and fall back to JavaScript, so the bundle never needs a compiler.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
// `--outdir DIR`: only the JavaScript bundles, into DIR (the bench builds variants side by side).
const outdirAt = process.argv.indexOf('--outdir');
const outdir = outdirAt > 0 ? process.argv[outdirAt + 1] : 'dist';
if (!outdir) throw new Error('--outdir needs a folder');

/** Keeps native addons out of the bundle. */
const nativeExternal = {
  name: 'native-external',
  setup(build) {
    build.onResolve({ filter: /\.node$|^cpu-features$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * The integrations' entry modules and the file each becomes. A dynamic import of one of them
 * (src/engine/integrations.ts, the compile stage's build container, the extension's cluster
 * header) loads that file next to the bundle on first use, so activation parses neither dockerode
 * nor @kubernetes/client-node (2 MB of the 3.8 MB).
 * CommonJS has no shared chunks, so the sharing is explicit: every module an integration file has
 * in common with the bundles or the other integration (engine modules such as stages/stage.ts and
 * compile/process-groups.ts, zod, execa, yaml…) is left out of it and taken from the bundle that
 * loads it, which hands over its own instances before the require(). One StageError class, one
 * process-group registry, one zod: nothing is parsed twice and `instanceof` holds across files
 * (test/unit/bundle-chunks.test.ts). `--single-bundle` and `--watch` inline the integrations.
 */
const CHUNKS = {
  'src/engine/docker/index.ts': 'integrations-docker',
  'src/engine/kube/index.ts': 'integrations-kube',
};
// `--single-bundle`: the integrations inlined in cli.cjs and extension.cjs (the bench's baseline);
// `--watch` too, since which modules are shared is worked out once, before the builds.
const split = !process.argv.includes('--single-bundle') && !watch;
const HOST = "globalThis[Symbol.for('tightloop.bundleModules')]";
const chunkOf = (resolveDir, request) => CHUNKS[path.relative(process.cwd(), path.resolve(resolveDir, request.replace(/\.js$/, '.ts')))];

/** In cli.cjs and extension.cjs: a dynamic import of an integration hands over the shared modules, then requires its file. */
function loadChunks(shared) {
  return {
    name: 'load-chunks',
    setup(build) {
      build.onResolve({ filter: /\/(docker|kube)\/index\.js$/ }, (args) => {
        const chunk = args.kind === 'dynamic-import' ? chunkOf(args.resolveDir, args.path) : undefined;
        return chunk ? { path: chunk, namespace: 'tl-chunk' } : undefined;
      });
      build.onResolve({ filter: /^\.\/integrations-[a-z]+\.cjs$/ }, (args) => ({ path: args.path, external: true }));
      build.onLoad({ filter: /.*/, namespace: 'tl-chunk' }, (args) => ({
        resolveDir: process.cwd(),
        loader: 'js',
        contents: [
          `const host = (${HOST} ??= {});`,
          ...shared.map((key) => `host[${JSON.stringify(key)}] ??= require(${JSON.stringify(path.resolve(key))});`),
          `module.exports = require('./${args.path}.cjs');`,
        ].join('\n'),
      }));
    },
  };
}

/** In an integration file: a shared module is the loading bundle's instance. */
function takeShared(shared) {
  const keys = new Set(shared);
  return {
    name: 'take-shared',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'take-shared' || args.kind === 'entry-point') return undefined;
        const resolved = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'take-shared' });
        if (resolved.errors.length || resolved.external) return resolved.errors.length ? undefined : resolved;
        const key = path.relative(process.cwd(), resolved.path);
        // The suffix makes it CommonJS (module.exports), whatever the shared file is.
        return keys.has(key) ? { path: `${key}.shared.cjs`, namespace: 'tl-shared' } : resolved;
      });
      build.onLoad({ filter: /.*/, namespace: 'tl-shared' }, (args) => {
        const key = args.path.slice(0, -'.shared.cjs'.length);
        return {
          loader: 'js',
          contents: [
            `const shared = ${HOST}?.[${JSON.stringify(key)}];`,
            `if (!shared) throw new Error(${JSON.stringify(`${key} was not handed over by the bundle loading this integration: rebuild dist/ with scripts/build.mjs`)});`,
            'module.exports = shared;',
          ].join('\n'),
        };
      });
    },
  };
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  plugins: [nativeExternal],
  legalComments: 'none',
};

/**
 * Node bundles are CommonJS: bundled CJS dependencies expect require/__dirname, and VS Code loads
 * extensions with require(). ESM dependencies read import.meta.url; in CJS that is this file's URL.
 */
const nodeCjs = {
  ...common,
  outdir,
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  // import() of an integration file becomes require(): one module cache, as VS Code expects.
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__tlImportMetaUrl' },
  banner: { js: "const __tlImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};

const cli = {
  ...nodeCjs,
  entryPoints: { cli: 'src/cli/bin.ts' },
  banner: { js: `#!/usr/bin/env node\n${nodeCjs.banner.js}` },
};
const extension = {
  ...nodeCjs,
  entryPoints: { extension: 'src/extension/extension.ts' },
  external: ['vscode'],
};
const chunk = (entry, name) => ({ ...nodeCjs, entryPoints: { [name]: entry } });
const webview = {
  entryPoints: { webview: 'webview/main.ts' },
  outdir,
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'es2022',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  legalComments: 'none',
};

const withPlugin = (options, plugin) => ({ ...options, plugins: [...options.plugins, plugin] });
let builds;
if (split) {
  // What is shared: every module of an integration that a bundle or the other integration also has.
  const inputs = async (options, plugins = options.plugins) =>
    new Set(Object.keys((await esbuild.build({ ...options, plugins, minify: false, sourcemap: false, write: false, metafile: true })).metafile.inputs));
  const inlined = [nativeExternal];
  const [cliInputs, extensionInputs, ...chunkInputs] = await Promise.all([
    inputs(cli, [nativeExternal, loadChunks([])]),
    inputs(extension, [nativeExternal, loadChunks([])]),
    ...Object.entries(CHUNKS).map(([entry, name]) => inputs(chunk(entry, name), inlined)),
  ]);
  const shared = [...new Set(chunkInputs.flatMap((own, i) => [...own].filter((file) => !Object.keys(CHUNKS).includes(file) && (cliInputs.has(file) || extensionInputs.has(file) || chunkInputs.some((other, j) => j !== i && other.has(file))))))].sort();
  builds = [
    withPlugin(cli, loadChunks(shared)),
    withPlugin(extension, loadChunks(shared)),
    ...Object.entries(CHUNKS).map(([entry, name]) => withPlugin(chunk(entry, name), takeShared(shared))),
    webview,
  ];
} else {
  builds = [cli, extension, webview];
}
builds = builds.filter((b) => Object.values(b.entryPoints).every((entry) => existsSync(entry)));

if (outdirAt < 0) {
  const agent = spawnSync('bash', ['scripts/build-agent.sh'], { stdio: 'inherit' });
  if (agent.status !== 0) process.exit(agent.status ?? 1);
}

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
