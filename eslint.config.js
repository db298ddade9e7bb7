// Lint rules: typescript-eslint with type information, promise-aware, zero warnings allowed.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.tools/**', '.reports/**', '**/dist/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['scripts/**', 'bench/**', '**/*.spec.ts', '**/test/**'],
    rules: { 'no-console': 'off' },
  },
  ...boundaries(),
);

/**
 * The code base's boundaries, so the next service copies good habits:
 * - `process.env` is read only by the config loader (`loadConfig` / `processEnvironment`);
 * - nothing under `services/` or `packages/` imports the simulator (a cloud like any other);
 * - nothing reaches into another package's `src/` by relative path: packages are imported by
 *   name (`@defib/platform`), tests and benches included.
 * A focused test (`.only`) silently drops the rest of its file; vitest's `allowOnly: false` fails
 * the run, and the lint fails before it. ESLint does not merge `no-restricted-syntax` across
 * blocks, so each block lists every selector that applies to its files.
 */
function boundaries() {
  const processEnv = {
    selector: "MemberExpression[object.name='process'][property.name='env']",
    message: 'Read the environment through the config loader (loadConfig / processEnvironment in @defib/platform), nowhere else.',
  };
  const focusedTest = {
    selector: "MemberExpression[property.name='only']:matches([object.name=/^(describe|suite|it|test|bench)$/], [object.object.name=/^(describe|suite|it|test|bench)$/])",
    message: 'A `.only` left in a test skips the rest of the file; remove it before committing.',
  };
  const otherPackageSource = {
    regex: '^((\\.\\./)+(packages|services)/[a-z0-9-]+|(\\.\\./){2,}[a-z][a-z0-9-]*|(\\.\\./)+simulator)/src(/|$)',
    message: "Import another package by its name (@defib/…), not its src/ by relative path.",
  };
  const simulator = {
    regex: '^(@defib/simulator(/|$)|(\\.\\./)+simulator/)',
    message: 'Services and packages talk to the simulator as to any cloud, over its API; they never import it.',
  };
  const configLoader = 'packages/platform/src/config.ts';
  return [
    { files: ['**/*.ts'], ignores: [configLoader], rules: { 'no-restricted-syntax': ['error', processEnv] } },
    { files: ['**/*.spec.ts', '**/test/**/*.ts'], ignores: [configLoader], rules: { 'no-restricted-syntax': ['error', processEnv, focusedTest] } },
    // Scripts run from the root, which is no workspace package: they may reach into one.
    { files: ['**/*.ts'], ignores: ['scripts/**'], rules: { 'no-restricted-imports': ['error', { patterns: [otherPackageSource] }] } },
    // The drill rehearses failures with the simulator: it validates a scenario's faults with the
    // simulator's own fault schema (so a bad parameter is found, with its line, before anything
    // starts). It still drives the simulator only over its API.
    { files: ['services/**/*.ts', 'packages/**/*.ts'], ignores: ['packages/drill/**'], rules: { 'no-restricted-imports': ['error', { patterns: [otherPackageSource, simulator] }] } },
  ];
}
