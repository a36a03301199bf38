// Bundles the three deliverables with esbuild:
//   dist/cli.js        the `tightloop` CLI (ESM, Node)
//   dist/extension.cjs the VS Code extension (CJS, `vscode` external)
//   dist/webview.js    the panel's browser code (IIFE)
// dockerode's optional native helpers (cpu-features, ssh2's sshcrypto.node) stay external: they are
// loaded in try/catch and fall back to JavaScript, so the bundle never needs a compiler.
import * as esbuild from 'esbuild';
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

const builds = [
  {
    ...common,
    entryPoints: { cli: 'src/cli/bin.ts' },
    outdir: 'dist',
    format: 'esm',
    // Bundled CommonJS dependencies call require(); give ESM output one.
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __tlCreateRequire } from 'node:module';\nconst require = __tlCreateRequire(import.meta.url);" },
  },
  {
    ...common,
    entryPoints: { extension: 'src/extension/extension.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.cjs' },
    format: 'cjs',
    external: ['vscode'],
    // ESM dependencies read import.meta.url; in CJS that is this file's URL.
    define: { 'import.meta.url': '__tlImportMetaUrl' },
    banner: { js: "const __tlImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
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

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
