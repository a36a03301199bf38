// Bundles the three deliverables with esbuild:
//   dist/cli.cjs       the `tightloop` CLI (CJS, Node)
//   dist/extension.cjs the VS Code extension (CJS, `vscode` external)
//   dist/webview.js    the panel's browser code (IIFE)
// and the live-update agent (dist/agent/agent-linux-{amd64,arm64}, scripts/build-agent.sh), which the
// .vsix ships and live-mode images carry.
// dockerode's optional native helpers (cpu-features, ssh2's sshcrypto.node) stay external: they are
// loaded in try/catch and fall back to JavaScript, so the bundle never needs a compiler.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/** Keeps native addons out of the bundle. */
const nativeExternal = {
  name: 'native-external',
  setup(build) {
    build.onResolve({ filter: /\.node$|^cpu-features$/ }, (args) => ({ path: args.path, external: true }));
  },
};

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
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
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
  {
    entryPoints: { webview: 'webview/main.ts' },
    outdir: 'dist',
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

const agent = spawnSync('bash', ['scripts/build-agent.sh'], { stdio: 'inherit' });
if (agent.status !== 0) process.exit(agent.status ?? 1);

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
