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
// `--single-bundle`: the integrations inlined in cli.cjs and extension.cjs (the bench's baseline).
const split = !process.argv.includes('--single-bundle');

/** Keeps native addons out of the bundle. */
const nativeExternal = {
  name: 'native-external',
  setup(build) {
    build.onResolve({ filter: /\.node$|^cpu-features$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * The integrations' entry modules and the file each becomes. A dynamic import of one of them
 * (src/engine/integrations.ts, the compile stage's build container) stays a require() of that file
 * next to the bundle, so activation parses neither dockerode nor @kubernetes/client-node (2 MB of
 * the 3.8 MB). CommonJS has no shared chunks: each file carries its own copy of the engine modules
 * it shares with the others, so whatever must be one per process is (StageError is recognised by
 * a Symbol.for brand, process groups live in one global registry): test/unit/bundle-chunks.test.ts.
 */
const CHUNKS = {
  'src/engine/docker/index.ts': 'integrations-docker',
  'src/engine/kube/index.ts': 'integrations-kube',
};
const lazyChunks = {
  name: 'lazy-chunks',
  setup(build) {
    build.onResolve({ filter: /\/(docker|kube)\/index\.js$/ }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      const chunk = CHUNKS[path.relative(process.cwd(), path.resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts')))];
      return chunk ? { path: `./${chunk}.cjs`, external: true } : undefined;
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  plugins: split ? [nativeExternal, lazyChunks] : [nativeExternal],
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

const builds = [
  {
    ...nodeCjs,
    entryPoints: { cli: 'src/cli/bin.ts' },
    banner: { js: `#!/usr/bin/env node\n${nodeCjs.banner.js}` },
  },
  {
    ...nodeCjs,
    entryPoints: { extension: 'src/extension/extension.ts' },
    external: ['vscode'],
  },
  ...(split ? [{ ...nodeCjs, entryPoints: Object.fromEntries(Object.entries(CHUNKS).map(([entry, chunk]) => [chunk, entry])) }] : []),
  {
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
  },
].filter((b) => Object.values(b.entryPoints).every((entry) => existsSync(entry)));

if (outdirAt < 0) {
  const agent = spawnSync('bash', ['scripts/build-agent.sh'], { stdio: 'inherit' });
  if (agent.status !== 0) process.exit(agent.status ?? 1);
}

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
