// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '.cache/**', '.infra/**', '.sluice/**', 'coverage/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: ['./tsconfig.check.json'], tsconfigRootDir: import.meta.dirname },
      globals: globals.node,
    },
    rules: {
      // Async mistakes are the costly ones in a pipeline: a dropped promise loses an item.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Packages meet through their public entry points only.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@sluice/*/src/*', '@sluice/*/dist/*', '@sluice/*/src', '@sluice/*/dist'],
              message: 'Import the package entry point, not its internals.',
            },
            {
              group: ['../../*/src/*', '../../../packages/*'],
              message: 'Import another package by its name, not by a relative path.',
            },
          ],
        },
      ],
    },
  },
  {
    // The dashboard's browser code: its own tsconfig (DOM, Preact's JSX), browser globals.
    files: ['packages/dashboard/web/**/*.ts', 'packages/dashboard/web/**/*.tsx'],
    languageOptions: {
      parserOptions: { project: ['./packages/dashboard/web/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
      globals: globals.browser,
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: globals.node },
  },
);
