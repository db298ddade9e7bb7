// Prints the one line CI reads, `tests: N passed, N failed, N skipped`, from the runs' JSON reports
// (`test/support/run-report.ts`; one per stage, summed), and before it what each number is made of. Anything that is
// not a passed behaviour counts as failed: a failed test, a test that never finished, a file that
// failed to load, a hook that threw, an unhandled error, an interrupted run, a run with no tests.
// Skipped and todo tests are counted and named, so a `.skip` cannot pass unnoticed.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { RunOutcome } from '../test/support/run-report.ts';

interface AssertionResult {
  fullName: string;
  status: 'passed' | 'failed' | 'skipped' | 'pending' | 'todo' | 'disabled';
}

interface RunReport {
  testResults: { name: string; assertionResults: AssertionResult[] }[];
  defib?: RunOutcome;
}

const files = process.argv.length > 2 ? process.argv.slice(2) : ['.reports/vitest.json'];

function summarize(report: RunReport): { lines: string[]; passed: number; failed: number; skipped: number } {
  const lines: string[] = [];
  const tests = report.testResults.flatMap((result) => result.assertionResults.map((test) => ({ ...test, file: relative(process.cwd(), result.name) })));
  const named = (status: AssertionResult['status'][]) => tests.filter((test) => status.includes(test.status));
  const passed = named(['passed']).length;
  const failedTests = named(['failed']);
  const unfinished = named(['pending']);
  const skipped = named(['skipped', 'disabled']);
  const todo = named(['todo']);
  const failures: string[] = [];
  for (const test of failedTests) failures.push(`${test.file}: ${test.fullName} failed`);
  for (const test of unfinished) failures.push(`${test.file}: ${test.fullName} never finished`);
  let failed = failedTests.length + unfinished.length;
  const outcome = report.defib;
  if (outcome === undefined) {
    failures.push('a report without suite and unhandled errors (not written by test/support/run-report.ts)');
    failed += 1;
  } else {
    for (const failure of outcome.suiteFailures) {
      failures.push(`${failure.file}${failure.suite === '' ? '' : ` › ${failure.suite}`} failed outside any test: ${failure.message}`);
    }
    for (const error of outcome.unhandledErrors) failures.push(`unhandled ${error.name}: ${error.message}`);
    failed += outcome.suiteFailures.length + outcome.unhandledErrors.length;
    if (outcome.reason === 'interrupted') {
      failures.push('the run was interrupted');
      failed += 1;
    }
  }
  if (report.testResults.length === 0) {
    failures.push('no test file ran');
    failed += 1;
  }
  if (failures.length > 0) lines.push('failures:', ...failures.map((failure) => `  ${failure}`));
  if (skipped.length + todo.length > 0) {
    lines.push(`skipped: ${skipped.length} skipped, ${todo.length} todo`);
    for (const test of [...skipped, ...todo]) lines.push(`  ${test.status} ${test.file}: ${test.fullName}`);
  }
  return { lines, passed, failed, skipped: skipped.length + todo.length };
}

const total = { passed: 0, failed: 0, skipped: 0 };
for (const file of files) {
  try {
    const { lines, passed, failed, skipped } = summarize(JSON.parse(readFileSync(file, 'utf8')) as RunReport);
    if (files.length > 1) console.log(`${file}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
    for (const line of lines) console.log(line);
    total.passed += passed;
    total.failed += failed;
    total.skipped += skipped;
  } catch (error) {
    console.log(`no readable test report at ${file}: ${(error as Error).message}`);
    total.failed += 1;
  }
}
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
