// One lint configuration for every package. Type-checked rules catch floating promises, which in a
// server are lost errors; the import rules encode the package boundaries of docs/architecture.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const serverPackages = ['@herald/store', '@herald/server'];
const ioModules = [
  'node:fs',
  'node:fs/promises',
  'node:net',
  'node:http',
  'node:https',
  'node:child_process',
  'pg',
  'better-sqlite3',
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'herald-data/**', 'packages/ui/vite.config.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'Name every export of a module explicitly.' },
      ],
    },
  },
  {
    // Time-dependent logic takes an injectable clock (core/src/clock.ts) so tests control it: reading
    // the wall clock or arming a global timer directly in these packages is refused. Formatting a
    // given time (`new Date(ms)`) is fine; the store's conformance suite is test code.
    files: ['packages/core/src/**/*.ts', 'packages/store/src/**/*.ts', 'packages/server/src/**/*.ts'],
    ignores: ['packages/core/src/clock.ts', 'packages/store/src/conformance/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'Name every export of a module explicitly.' },
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'Use the injected Clock (clock.now()), not Date.now().',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Use the injected Clock: new Date(clock.now()).',
        },
        {
          selector: 'CallExpression[callee.name=/^(setTimeout|setInterval)$/]',
          message: "Use the injected TimerClock's setTimeout/setInterval, so tests can drive time.",
        },
      ],
    },
  },
  {
    files: ['packages/core/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...ioModules, ...serverPackages].map((name) => ({
            name,
            message: '@herald/core does no I/O and knows no server; do it in an adapter.',
          })),
        },
      ],
    },
  },
  {
    files: ['packages/sdk/src/**/*.ts', 'packages/agent/src/**/*.ts', 'packages/openfeature/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['pg', 'better-sqlite3', ...serverPackages].map((name) => ({
            name,
            message: 'The client side must not depend on the server side.',
          })),
        },
      ],
    },
  },
  {
    // Flags are pure like core: the control plane and the client-side provider both evaluate with them.
    files: ['packages/flags/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...ioModules, ...serverPackages, '@herald/sdk'].map((name) => ({
            name,
            message: '@herald/flags is pure (no I/O) and runs on both sides: it takes views, not stores or clients.',
          })),
        },
      ],
    },
  },
  {
    // The web UI runs in the browser (its own tsconfig with DOM types) and talks only HTTP.
    files: ['packages/ui/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@herald/*', 'node:*'],
              message: 'The UI uses the admin API over HTTP only; it imports no Herald package and no Node module.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
  },
);
