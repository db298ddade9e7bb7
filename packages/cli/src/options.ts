/** Option types shared by several commands. */
import { InvalidArgumentError, Option } from 'commander';

/** A positive number of seconds (`2`, `0.5`), as a number. */
export function secondsOption(flags: string, description: string, defaultSeconds: number): Option {
  return new Option(flags, description).default(defaultSeconds).argParser((text: string) => {
    const seconds = Number(text);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('must be a positive number of seconds, such as 2 or 0.5');
    return seconds;
  });
}
