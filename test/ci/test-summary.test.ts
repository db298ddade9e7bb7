/**
 * The line CI reads (`scripts/test-summary.ts`) for runs that went wrong in every way a summary
 * could hide: the fixture files beside this test are run by vitest with the root config's report
 * and rules, and the line must count each failure and each skipped test.
 */
import { processEnvironment } from '@defib/platform';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtureReport = join(root, 'test/ci/fixtures/.reports/vitest.json');

async function summaryOf(report: string): Promise<string[]> {
  const { stdout } = await run(process.execPath, ['scripts/test-summary.ts', report], { cwd: root });
  return stdout.trimEnd().split('\n');
}

describe('the CI summary line', () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'defib-summary-'));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  describe('after a run with a failing test, a file that cannot load, a throwing hook, a stray rejection, a skip, a todo and a .only', () => {
    let lines: string[];
    let exitCode: number;

    beforeAll(async () => {
      await rm(fixtureReport, { force: true });
      const vitest = join(root, 'node_modules/vitest/vitest.mjs');
      exitCode = await run(process.execPath, [vitest, 'run', '--config', 'test/ci/fixtures/vitest.config.ts'], { cwd: root, env: { PATH: processEnvironment().PATH, HOME: processEnvironment().HOME } }).then(
        () => 0,
        (error: { code: number }) => error.code,
      );
      lines = await summaryOf(fixtureReport);
    }, 60_000);

    it('fails the run', () => {
      expect(exitCode).not.toBe(0);
    });

    it('counts every failure, including those no test owns, and every skipped and todo test', () => {
      // failed: the `.only` test, the file that cannot load, the hook, the unhandled rejection
      expect(lines.at(-1)).toBe('tests: 2 passed, 4 failed, 4 skipped');
    });

    it('names what failed outside any test', () => {
      const failures = lines.join('\n');
      expect(failures).toContain('only.fixture.ts: is focused failed');
      expect(failures).toContain('fails-to-load.fixture.ts failed outside any test: this file cannot load');
      expect(failures).toContain('hook-throws.fixture.ts › a describe whose set-up throws failed outside any test: set-up failed');
      expect(failures).toContain('unhandled Error: rejected after the test passed');
    });

    it('names the skipped and todo tests', () => {
      expect(lines).toContain('  skipped test/ci/fixtures/behaviours.fixture.ts: a file whose tests pass is skipped');
      expect(lines).toContain('  todo test/ci/fixtures/behaviours.fixture.ts: a file whose tests pass is still to be written');
    });
  });

  it('fails when there is no report (a run that never wrote one, or whose old report was deleted)', async () => {
    expect((await summaryOf(join(scratch, 'missing.json'))).at(-1)).toBe('tests: 0 passed, 1 failed, 0 skipped');
  });

  it('fails when the report lacks the errors no test owns (a plain vitest JSON report)', async () => {
    const report = join(scratch, 'plain.json');
    await writeFile(report, JSON.stringify({ testResults: [{ name: join(root, 'a.test.ts'), assertionResults: [{ fullName: 'a passes', status: 'passed' }] }] }));
    expect((await summaryOf(report)).at(-1)).toBe('tests: 1 passed, 1 failed, 0 skipped');
  });

  it('fails when no test file ran, and when the run was interrupted', async () => {
    const report = join(scratch, 'empty.json');
    await writeFile(report, JSON.stringify({ testResults: [], defib: { reason: 'interrupted', suiteFailures: [], unhandledErrors: [] } }));
    const lines = await summaryOf(report);
    expect(lines).toEqual(expect.arrayContaining(['  the run was interrupted', '  no test file ran']));
    expect(lines.at(-1)).toBe('tests: 0 passed, 2 failed, 0 skipped');
  });
});
