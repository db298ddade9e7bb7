import { describe, expect, it } from 'vitest';
import { ContractViolation } from './contract-violation.ts';
import { durationSchema, formatDuration, makeDurationSchema, parseDuration, tryParseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1ms', 1],
    ['90s', 90_000],
  ])('reads %s as %i milliseconds', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '10', '1.5s', '-1s', '+1s', ' 1s', '1s ', '1 s', '1S', '1sec', 's', '1w', '010s', '1e3ms', '1h30m', '99999999999999999d'])(
    'rejects %j with a ContractViolation',
    (text) => {
      expect(() => parseDuration(text)).toThrow(ContractViolation);
      expect(tryParseDuration(text)).toBeUndefined();
    },
  );

  it('rejects a zero duration unless zero is allowed', () => {
    expect(() => parseDuration('0s')).toThrow(ContractViolation);
    expect(parseDuration('0s', { allowZero: true })).toBe(0);
    expect(parseDuration('0ms', { allowZero: true })).toBe(0);
  });

  it('explains what a duration looks like', () => {
    expect(() => parseDuration('10')).toThrow(/must be a duration such as 500ms, 10s or 5m/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [1, '1ms'],
    [1500, '1500ms'],
    [1000, '1s'],
    [90_000, '90s'],
    [300_000, '5m'],
    [7_200_000, '2h'],
    [172_800_000, '2d'],
  ])('writes %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 61_000, 3_600_000, 86_400_000, 123_456_789]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });

  it('refuses negative and fractional milliseconds', () => {
    expect(() => formatDuration(-1)).toThrow(RangeError);
    expect(() => formatDuration(1.5)).toThrow(RangeError);
    expect(() => formatDuration(Number.NaN)).toThrow(RangeError);
  });
});

describe('durationSchema', () => {
  it('transforms a duration string to milliseconds', () => {
    expect(durationSchema.parse('10s')).toBe(10_000);
  });

  it.each([['1.5s'], ['10'], ['0s'], [10], [null]])('rejects %j with the duration message', (input) => {
    const result = durationSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/^must be a duration such as 500ms, 10s or 5m/);
  });

  it('accepts zero when made with allowZero', () => {
    expect(makeDurationSchema({ allowZero: true }).parse('0s')).toBe(0);
  });
});
