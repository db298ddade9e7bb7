import { describe, expect, it } from 'vitest';
import { fullBucket, refill, routeEvent, takeToken, type BucketState, type RateLimit } from './storm-control.ts';

const limit: RateLimit = { burst: 10, perMinute: 60, groupWindowMs: 10_000 };
const at = (ms: number) => new Date(Date.UTC(2026, 10, 26, 10, 0, 0) + ms);

describe('storm control', () => {
  it('lets a burst through, then refuses until tokens come back', () => {
    let bucket: BucketState = fullBucket(limit, at(0));
    const allowed: boolean[] = [];
    for (let index = 0; index < 12; index += 1) {
      const taken = takeToken(limit, bucket, at(0));
      allowed.push(taken.allowed);
      bucket = taken.state;
    }
    expect(allowed).toEqual([...Array<boolean>(10).fill(true), false, false]);
    expect(takeToken(limit, bucket, at(500)).allowed).toBe(false);
    expect(takeToken(limit, bucket, at(1_000)).allowed).toBe(true);
  });

  it('refills at the configured rate, never beyond the burst', () => {
    expect(refill(limit, { tokens: 0, refilledAt: at(0) }, at(3_000)).tokens).toBeCloseTo(3);
    expect(refill(limit, { tokens: 0, refilledAt: at(0) }, at(3_600_000)).tokens).toBe(10);
    expect(refill(limit, { tokens: 4, refilledAt: at(5_000) }, at(0)).tokens).toBe(4);
  });

  it('turns 500 events in ten seconds into about a dozen messages', () => {
    let bucket: BucketState | undefined;
    let groupOpenUntil = -1;
    let messages = 0;
    for (let index = 0; index < 500; index += 1) {
      const now = index * 20; // 500 events over 10 s
      const decision = routeEvent({ limit, digestWindowMs: 0, groupOpen: now < groupOpenUntil, bucket, now: at(now) });
      bucket = decision.bucket;
      if (decision.routing.mode === 'single') messages += 1;
      else if (now >= groupOpenUntil) {
        messages += 1;
        groupOpenUntil = now + decision.routing.windowMs;
      }
    }
    expect(messages).toBeLessThanOrEqual(12);
    expect(messages).toBeGreaterThanOrEqual(10);
  });

  it('keeps joining an open group even when a token is back, so nothing overtakes it', () => {
    const decision = routeEvent({ limit, digestWindowMs: 0, groupOpen: true, bucket: fullBucket(limit, at(0)), now: at(0) });
    expect(decision.routing).toEqual({ mode: 'group', windowMs: 10_000 });
  });

  it('always groups within a digest window, and sends each event alone without a limit', () => {
    expect(routeEvent({ limit, digestWindowMs: 60_000, groupOpen: false, bucket: undefined, now: at(0) }).routing).toEqual({ mode: 'group', windowMs: 60_000 });
    expect(routeEvent({ limit: null, digestWindowMs: 0, groupOpen: true, bucket: undefined, now: at(0) }).routing).toEqual({ mode: 'single' });
  });
});
