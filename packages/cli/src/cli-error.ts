/**
 * The one error the CLI reports: lines for stderr (already worded for a person, never a stack)
 * and the exit code. Exit codes: 1 a service refused or failed, or does not answer; 2 bad usage
 * or bad input (a 400, an unreadable file); 3 not found (a 404).
 */
export const EXIT = { failed: 1, badInput: 2, notFound: 3 } as const;

export class CliError extends Error {
  readonly lines: readonly string[];
  readonly exitCode: number;

  constructor(lines: string | readonly string[], exitCode: number = EXIT.failed) {
    const all = typeof lines === 'string' ? [lines] : lines;
    super(all.join('\n'));
    this.name = 'CliError';
    this.lines = all;
    this.exitCode = exitCode;
  }
}
