/**
 * The JSON report CI reads (`scripts/test-summary.ts`): vitest's own JSON report plus what that
 * report leaves out and a summary must not — errors no test owns (a file that failed to load, a
 * hook that threw) and unhandled errors (a rejection after a test passed) — and why the run ended.
 */
import type { SerializedError } from 'vitest';
import { JsonReporter, type Reporter, type TestModule, type TestRunEndReason } from 'vitest/node';

/** An error that belongs to a file or a `describe`, not to a test. */
export interface SuiteFailure {
  file: string;
  /** The describe's full name; empty for the file itself. */
  suite: string;
  message: string;
}

/** The part of `.reports/vitest.json` Defib adds to vitest's own fields. */
export interface RunOutcome {
  /** `interrupted` when the run was cut short (bail, a signal): its counts are not the suite's. */
  reason: TestRunEndReason;
  suiteFailures: SuiteFailure[];
  unhandledErrors: { name: string; message: string }[];
}

function firstLine(error: SerializedError): string {
  return (typeof error.message === 'string' ? error.message : 'no message').split('\n')[0] ?? '';
}

/** vitest's JSON reporter with a `defib` field holding the run's {@link RunOutcome}. */
export class RunReporter extends JsonReporter implements Reporter {
  private outcome: RunOutcome | undefined;

  override async onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError> = [], reason: TestRunEndReason = 'failed'): Promise<void> {
    const suiteFailures: SuiteFailure[] = [];
    for (const module of testModules) {
      const file = module.relativeModuleId;
      for (const error of module.errors()) suiteFailures.push({ file, suite: '', message: firstLine(error) });
      for (const suite of module.children.allSuites()) {
        for (const error of suite.errors()) suiteFailures.push({ file, suite: suite.fullName, message: firstLine(error) });
      }
    }
    this.outcome = {
      reason,
      suiteFailures,
      unhandledErrors: unhandledErrors.map((error) => ({ name: error.name ?? 'Error', message: firstLine(error) })),
    };
    await super.onTestRunEnd(testModules);
  }

  override async writeReport(report: string): Promise<void> {
    await super.writeReport(JSON.stringify({ ...(JSON.parse(report) as object), defib: this.outcome }));
  }
}
