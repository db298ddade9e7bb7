import { describe, expect, it } from 'vitest';
import { nextRetryDelay, nominalSchedule, parseRetryAfter, seededRandom, type RetryPolicy } from './retry-schedule.ts';

const policy: RetryPolicy = { attempts: 12, initialDelayMs: 5_000, multiplier: 3, maxDelayMs: 6 * 3_600_000, jitter: 0.2 };

describe('retry schedule', () => {
  it('grows exponentially from seconds to hours, capped at the longest delay', () => {
    expect(nominalSchedule(policy)).toEqual([5_000, 15_000, 45_000, 135_000, 405_000, 1_215_000, 3_645_000, 10_935_000, 21_600_000, 21_600_000, 21_600_000]);
  });

  it('is exhausted after the last attempt', () => {
    expect(nextRetryDelay(policy, 11, () => 0.5)).toBe(21_600_000);
    expect(nextRetryDelay(policy, 12, () => 0.5)).toBeUndefined();
    expect(nextRetryDelay({ ...policy, attempts: 1 }, 1, () => 0.5)).toBeUndefined();
  });

  it('spreads each delay within the jitter, reproducibly for a seed', () => {
    const first = Array.from({ length: 50 }, (_, index) => nextRetryDelay(policy, 2, seededRandom(index)) ?? 0);
    for (const delay of first) {
      expect(delay).toBeGreaterThanOrEqual(12_000);
      expect(delay).toBeLessThanOrEqual(18_000);
    }
    expect(new Set(first).size).toBeGreaterThan(10);
    const again = Array.from({ length: 50 }, (_, index) => nextRetryDelay(policy, 2, seededRandom(index)) ?? 0);
    expect(again).toEqual(first);
  });

  it('never retries sooner than Retry-After asks, nor later than the longest delay', () => {
    expect(nextRetryDelay(policy, 1, () => 0.5, 60_000)).toBe(60_000);
    expect(nextRetryDelay(policy, 1, () => 0.5, 1_000)).toBe(5_000);
    expect(nextRetryDelay(policy, 1, () => 0.5, 48 * 3_600_000)).toBe(6 * 3_600_000);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = new Date('2026-11-26T10:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 26 Nov 2026 10:01:30 GMT', now)).toBe(90_000);
    expect(parseRetryAfter('Thu, 26 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
