import { defineConfig } from 'vitest/config';
import { RunReporter } from './test/support/run-report.ts';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.spec.ts', 'services/*/src/**/*.spec.ts', 'simulator/src/**/*.spec.ts', 'packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'simulator/test/**/*.test.ts', 'test/**/*.test.ts'],
    // The chaos suite (whole drills, minutes each) is CI's second stage: `pnpm test:chaos`.
    exclude: ['**/node_modules/**', 'test/chaos/**'],
    globalSetup: ['./test/support/global-setup.ts'],
    // The report CI's summary line is printed from (scripts/test-summary.ts).
    reporters: ['default', new RunReporter({ outputFile: '.reports/vitest.json' })],
    // A `.only` left in a test fails the run instead of quietly skipping the rest of the file.
    allowOnly: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
