import { ManualClock } from '@defib/platform/testing';
import { describe, expect, it } from 'vitest';
import { CloudLimiter, CloudLimiters } from './cloud-limiter.ts';

/** A task that stays under way until `finish()`; records when it started. */
function heldTask(clock: ManualClock, starts: number[]) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    task: () => {
      starts.push(clock.now());
      return done;
    },
    finish: () => finish(),
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('CloudLimiter', () => {
  it('spaces call starts evenly at the rate (with a 1 % guard), with no burst', async () => {
    const clock = new ManualClock(0);
    const limiter = new CloudLimiter({ requestsPerSecond: 10, concurrency: 100 }, clock);
    const starts: number[] = [];
    const calls = Array.from({ length: 25 }, () => limiter.run(() => Promise.resolve(starts.push(clock.now()))));
    for (let ms = 0; ms <= 3_000; ms++) {
      await settle();
      clock.advance(1);
    }
    await Promise.all(calls);
    expect(starts).toHaveLength(25);
    expect(starts.slice(0, 3)).toEqual([0, 101, 202]);
    // No one-second window holds more than the limit.
    for (const start of starts) expect(starts.filter((other) => other >= start && other < start + 1_000).length).toBeLessThanOrEqual(10);
  });

  it('never has more calls under way than its concurrency, and starts the next when one finishes', async () => {
    const clock = new ManualClock(0);
    const limiter = new CloudLimiter({ requestsPerSecond: 1_000, concurrency: 2 }, clock);
    const starts: number[] = [];
    const held = Array.from({ length: 4 }, () => heldTask(clock, starts));
    const calls = held.map(({ task }) => limiter.run(task));
    clock.advance(100);
    await settle();
    expect(limiter.snapshot()).toMatchObject({ running: 2, queued: 2 });
    held[0]?.finish();
    await settle();
    clock.advance(10);
    await settle();
    expect(limiter.snapshot()).toMatchObject({ running: 2, queued: 1, started: 3 });
    for (const { finish } of held) finish();
    for (let i = 0; i < 5; i++) {
      clock.advance(10);
      await settle();
    }
    await Promise.all(calls);
    expect(limiter.snapshot()).toEqual({ running: 0, queued: 0, started: 4 });
  });

  it('admits calls in the order they arrived', async () => {
    const clock = new ManualClock(0);
    const limiter = new CloudLimiter({ requestsPerSecond: 100, concurrency: 1 }, clock);
    const order: number[] = [];
    const calls = [1, 2, 3, 4].map((n) => limiter.run(() => Promise.resolve(order.push(n))));
    for (let i = 0; i < 10; i++) {
      await settle();
      clock.advance(10);
    }
    await Promise.all(calls);
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('takes an abandoned call out of the line without running it', async () => {
    const clock = new ManualClock(0);
    const limiter = new CloudLimiter({ requestsPerSecond: 1, concurrency: 1 }, clock);
    const ran: string[] = [];
    const first = limiter.run(() => Promise.resolve(ran.push('first')));
    const controller = new AbortController();
    const second = limiter.run(() => Promise.resolve(ran.push('second')), controller.signal);
    controller.abort(new Error('deadline passed'));
    await expect(second).rejects.toThrow('deadline passed');
    clock.advance(5_000);
    await first;
    expect(ran).toEqual(['first']);
    expect(limiter.snapshot().queued).toBe(0);
  });

  it('follows new limits without disturbing calls under way', async () => {
    const clock = new ManualClock(0);
    const limiter = new CloudLimiter({ requestsPerSecond: 1, concurrency: 1 }, clock);
    const starts: number[] = [];
    const calls = [1, 2, 3].map(() => limiter.run(() => Promise.resolve(starts.push(clock.now()))));
    await settle();
    limiter.update({ requestsPerSecond: 10, concurrency: 1 });
    for (let i = 0; i < 300; i++) {
      await settle();
      clock.advance(1);
    }
    await Promise.all(calls);
    expect(starts).toEqual([0, 101, 202]);
  });
});

describe('CloudLimiters', () => {
  it('gives every driver of one cloud the same limiter, and each cloud its own', () => {
    const limiters = new CloudLimiters(new ManualClock(0));
    const limits = { requestsPerSecond: 5, concurrency: 2 };
    expect(limiters.for('sim-a', limits)).toBe(limiters.for('sim-a', limits));
    expect(limiters.for('sim-a', limits)).not.toBe(limiters.for('sim-b', limits));
  });

  it('updates a shared limiter when its cloud is registered again with other limits', () => {
    const limiters = new CloudLimiters(new ManualClock(0));
    const limiter = limiters.for('sim-a', { requestsPerSecond: 5, concurrency: 2 });
    limiters.for('sim-a', { requestsPerSecond: 20, concurrency: 4 });
    expect(limiter.limits).toEqual({ requestsPerSecond: 20, concurrency: 4 });
  });
});
