import tseslint from 'typescript-eslint';

const NO_VSCODE = { name: 'vscode', message: 'the engine never imports vscode; put editor glue in src/extension' };
const TOOLKIT = { group: ['@vscode/webview-ui-toolkit*'], message: 'use the webview toolkit only under webview/' };
// node:test's describe/it return promises the runner itself awaits.
const NODE_TEST = { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] };
const WEBVIEW_ONLY = 'the webview imports only its own files, src/shared, engine types (import type), zod/mini and the toolkit';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.cache/**', 'test-results/**', '.scratch/**', 'examples/**/build*/**', 'bench/results/**', '.tightloop-services/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
      'no-control-regex': 'off',
    },
  },
  {
    // Type-aware checks for TypeScript. Each file is checked in the project that owns it (the
    // nearest tsconfig.json: Node code, webview/, test/e2e/). Only these rules need types, so the
    // cost is building the programs once, not the type-checked presets.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [NODE_TEST] }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unnecessary-condition': 'error',
    },
  },
  {
    // The archived webview toolkit stays swappable in one place: only webview/ may import it.
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [TOOLKIT] }] },
  },
  {
    // The engine must run headless (CLI, CI, tests): VS Code belongs to src/extension only.
    files: ['src/engine/**/*.ts', 'src/cli/**/*.ts', 'src/shared/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [NO_VSCODE], patterns: [TOOLKIT] }] },
  },
  {
    // The webview is a browser bundle: nothing from the extension host, the CLI or Node, and the
    // engine only as types (its values would drag Node code into the bundle).
    files: ['webview/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(?!\\.|zod/mini$|@vscode/webview-ui-toolkit$)', message: WEBVIEW_ONLY },
            { regex: '/src/(?!shared/|engine/)', message: WEBVIEW_ONLY },
            { regex: '/src/engine/', allowTypeImports: true, message: WEBVIEW_ONLY },
          ],
        },
      ],
    },
  },
);
