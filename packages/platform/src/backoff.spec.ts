import { describe, expect, it } from 'vitest';
import { jitteredDelay } from './backoff.ts';

describe('jitteredDelay', () => {
  it('grows from the initial delay, never past the ceiling, and spreads over the upper half', () => {
    expect(jitteredDelay(100, 2_000, 0, () => 0)).toBe(50);
    expect(jitteredDelay(100, 2_000, 0, () => 1)).toBe(100);
    expect(jitteredDelay(100, 2_000, 3, () => 0.5)).toBe(600);
    expect(jitteredDelay(100, 2_000, 30, () => 1)).toBe(2_000);
    expect(jitteredDelay(100, 2_000, 30, () => 0)).toBe(1_000);
  });
});
