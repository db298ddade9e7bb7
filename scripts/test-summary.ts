// Prints the one line CI reads, `tests: N passed, N failed`, from vitest's JSON report.
import { readFileSync } from 'node:fs';

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numFailedTestSuites: number;
}

const file = process.argv[2] ?? '.reports/vitest.json';
try {
  const report = JSON.parse(readFileSync(file, 'utf8')) as VitestReport;
  // A suite that failed to load has no failed tests of its own; count it so it cannot hide.
  const failed = report.numFailedTests + (report.numFailedTests === 0 ? report.numFailedTestSuites : 0);
  console.log(`tests: ${report.numPassedTests} passed, ${failed} failed`);
} catch (error) {
  console.log(`tests: 0 passed, 1 failed (no readable report at ${file}: ${(error as Error).message})`);
}
