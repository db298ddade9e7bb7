import { defineConfig } from 'vitest/config';
import rootConfig from './vitest.config.ts';
import { RunReporter } from './test/support/run-report.ts';

/**
 * The chaos suite: whole drills (`test/chaos`), minutes each, run by `pnpm test:chaos` as CI's
 * second stage after the README's test command. One drill at a time: each runs five processes (or
 * eight) and 5–100 simulated VMs, and a drill is measured on a machine that runs nothing else.
 */
export default defineConfig({
  test: {
    ...rootConfig.test,
    include: ['test/chaos/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    reporters: ['default', new RunReporter({ outputFile: '.reports/vitest-chaos.json' })],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    maxWorkers: 1,
  },
});
