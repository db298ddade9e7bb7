/**
 * Durations as users write them in manifests (`500ms`, `10s`, `5m`, `2h`, `1d`) and as the code
 * carries them: an integer number of milliseconds. Whole amounts only, no fractions, no signs, no
 * spaces, so that a duration reads the same to a person and to the parser.
 */
import { z } from 'zod';
import { ContractViolation } from './contract-violation.ts';

/** Milliseconds per unit, largest unit first (the order {@link formatDuration} tries them in). */
const unitMs = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type DurationUnit = keyof typeof unitMs;

const durationPattern = /^(0|[1-9][0-9]{0,14})(ms|s|m|h|d)$/;

/** The message every duration error carries. */
export const DURATION_MESSAGE = 'must be a duration such as 500ms, 10s or 5m';

/** Options for {@link parseDuration} and {@link makeDurationSchema}. */
export type DurationOptions = {
  /** Accept `0s`, `0ms`, …; rejected by default because a zero interval or window is almost always a mistake. */
  allowZero?: boolean;
};

/** Returns the duration in milliseconds, or `undefined` if the text is not a valid duration. */
export function tryParseDuration(text: string, options: DurationOptions = {}): number | undefined {
  const match = durationPattern.exec(text);
  if (match === null) return undefined;
  const amount = Number(match[1]);
  const ms = amount * unitMs[match[2] as DurationUnit];
  if (!Number.isSafeInteger(ms)) return undefined;
  if (ms === 0 && options.allowZero !== true) return undefined;
  return ms;
}

/**
 * Parses `500ms`, `10s`, `5m`, `2h` or `1d` into milliseconds. Rejects `''`, `10` (no unit),
 * `1.5s`, `-1s`, ` 1s`, and `0s` unless `allowZero`, with a {@link ContractViolation}.
 */
export function parseDuration(text: string, options: DurationOptions = {}): number {
  const ms = tryParseDuration(text, options);
  if (ms === undefined) {
    const message = options.allowZero === true ? DURATION_MESSAGE : `${DURATION_MESSAGE}, greater than zero`;
    throw new ContractViolation('duration', [{ path: '', message }]);
  }
  return ms;
}

/**
 * Formats milliseconds in the largest unit that divides them exactly (`1500` → `1500ms`,
 * `90000` → `90s`, `7200000` → `2h`), so `parseDuration(formatDuration(ms)) === ms` always holds.
 */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`formatDuration expects a whole, non-negative number of milliseconds, got ${ms}`);
  if (ms === 0) return '0ms';
  for (const [unit, size] of Object.entries(unitMs)) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A zod schema accepting a duration string and producing milliseconds. */
export function makeDurationSchema(options: DurationOptions = {}): z.ZodPipe<z.ZodString, z.ZodTransform<number, string>> {
  const message = options.allowZero === true ? DURATION_MESSAGE : `${DURATION_MESSAGE}, greater than zero`;
  return z.string({ error: (issue) => (issue.input === undefined ? undefined : DURATION_MESSAGE) }).transform((text, ctx) => {
    const ms = tryParseDuration(text, options);
    if (ms === undefined) {
      ctx.issues.push({ code: 'custom', message, input: text });
      return z.NEVER;
    }
    return ms;
  });
}

/** A positive duration string (`500ms`, `10s`, `5m`, …) transformed to milliseconds. */
export const durationSchema = makeDurationSchema();
