/**
 * The line CI reads (`scripts/test-summary.ts`) for runs that went wrong in every way a summary
 * could hide: deliberately broken test files, written for this run into a folder of its own beside
 * this test (never part of the tree, so no focused or skipped test stands in it), are run by vitest
 * with the root config's report and rules, and the line must count each failure and each skipped test.
 */
import { processEnvironment } from '@defib/platform';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
/** Inside the checkout, so the files resolve `vitest` and the root config as tests do. */
const fixtureFolder = `test/ci/.fixtures-${randomBytes(4).toString('hex')}`;
const fixtureReport = join(root, fixtureFolder, '.reports/vitest.json');

// Spelt indirectly so that no focused, skipped or todo test appears in the tree's source.
const [focused, skipped, todo] = ['only', 'skip', 'todo'];
const fixtures: Record<string, string> = {
  'vitest.config.ts': `import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import rootConfig from '../../../vitest.config.ts';

export default defineConfig({
  test: { ...rootConfig.test, root: fileURLToPath(new URL('.', import.meta.url)), include: ['*.fixture.ts'], globalSetup: [] },
});
`,
  'behaviours.fixture.ts': `import { describe, it } from 'vitest';

describe('a file whose tests pass', () => {
  it('passes', () => {});
  it.${skipped}('is skipped', () => {});
  it.${todo}('is still to be written');
  it('passes but leaves a rejection nobody handles', () => {
    void Promise.reject(new Error('rejected after the test passed'));
  });
});
`,
  'fails-to-load.fixture.ts': `import { it } from 'vitest';

throw new Error('this file cannot load');

it('never runs', () => {});
`,
  'hook-throws.fixture.ts': `import { beforeAll, describe, it } from 'vitest';

describe('a describe whose set-up throws', () => {
  beforeAll(() => {
    throw new Error('set-up failed');
  });
  it('never gets to run', () => {});
});
`,
  'only.fixture.ts': `import { it } from 'vitest';

it.${focused}('is focused', () => {});
it('is left out by the focus', () => {});
`,
};

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
    await rm(join(root, fixtureFolder), { recursive: true, force: true });
  });

  describe('after a run with a failing test, a file that cannot load, a throwing hook, a stray rejection, a skip, a todo and a .only', () => {
    let lines: string[];
    let exitCode: number;

    beforeAll(async () => {
      await mkdir(join(root, fixtureFolder));
      for (const [name, text] of Object.entries(fixtures)) await writeFile(join(root, fixtureFolder, name), text);
      const vitest = join(root, 'node_modules/vitest/vitest.mjs');
      exitCode = await run(process.execPath, [vitest, 'run', '--config', `${fixtureFolder}/vitest.config.ts`], { cwd: root, env: { PATH: processEnvironment().PATH, HOME: processEnvironment().HOME } }).then(
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
      expect(lines).toContain(`  skipped ${fixtureFolder}/behaviours.fixture.ts: a file whose tests pass is skipped`);
      expect(lines).toContain(`  todo ${fixtureFolder}/behaviours.fixture.ts: a file whose tests pass is still to be written`);
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
