import tseslint from 'typescript-eslint';

const NO_VSCODE = { name: 'vscode', message: 'the engine never imports vscode; put editor glue in src/extension' };
const TOOLKIT = { group: ['@vscode/webview-ui-toolkit*'], message: 'use the webview toolkit only under webview/' };

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
    // The archived webview toolkit stays swappable in one place: only webview/ may import it.
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [TOOLKIT] }] },
  },
  {
    // The engine must run headless (CLI, CI, tests): VS Code belongs to src/extension only.
    files: ['src/engine/**/*.ts', 'src/cli/**/*.ts', 'src/shared/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [NO_VSCODE], patterns: [TOOLKIT] }] },
  },
);
