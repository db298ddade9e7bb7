/** Files the user names on the command line (`-f FILE`). */
import { readFileSync } from 'node:fs';
import { CliError, EXIT } from './cli-error.ts';

/** The text of `file`; a missing or unreadable file is a {@link CliError} (exit 2) naming it. */
export function readInputFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`defib: ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(error)})`}`, EXIT.badInput);
  }
}
