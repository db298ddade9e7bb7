import { ManualClock } from '@defib/platform/testing';
import { describe, expect, it } from 'vitest';
import { createCloudCaller, type RetryPolicy } from './cloud-call.ts';
import { CloudError } from './cloud-error.ts';
import { CloudLimiter } from './cloud-limiter.ts';

const policy: RetryPolicy = { attemptTimeoutMs: 1_000, maxAttempts: 5, initialDelayMs: 100, maxDelayMs: 1_000, budgetMs: 10_000 };

function callerOn(clock: ManualClock, overrides: Partial<RetryPolicy> = {}) {
  const limiter = new CloudLimiter({ requestsPerSecond: 1_000, concurrency: 10 }, clock);
  return createCloudCaller({ cloud: 'sim-a', limiter, clock, policy: { ...policy, ...overrides }, random: () => 0.5 });
}

/** Runs `promise` to its end while moving the manual clock forward in steps. */
async function drive<T>(clock: ManualClock, promise: Promise<T>, stepMs = 50, maxMs = 120_000): Promise<T> {
  let settled = false;
  const watched = promise.finally(() => (settled = true));
  watched.catch(() => undefined);
  for (let elapsed = 0; !settled && elapsed <= maxMs; elapsed += stepMs) {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    clock.advance(stepMs);
  }
  return watched;
}

const throttled = (retryAfterMs?: number) => new CloudError('throttled', 'sim-a', 'servers.list', 'Rate exceeded', { status: 429, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
const refused = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
const reset = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });

describe('cloud calls', () => {
  it('retries a throttled call and returns its answer', async () => {
    const clock = new ManualClock(0);
    let attempts = 0;
    const answer = await drive(
      clock,
      callerOn(clock).call('servers.list', { idempotent: true }, () => {
        attempts++;
        return attempts < 3 ? Promise.reject(throttled()) : Promise.resolve('page');
      }),
    );
    expect(answer).toBe('page');
    expect(attempts).toBe(3);
  });

  it('waits at least as long as Retry-After asks', async () => {
    const clock = new ManualClock(0);
    const times: number[] = [];
    await drive(
      clock,
      callerOn(clock).call('servers.list', { idempotent: true }, () => {
        times.push(clock.now());
        return times.length === 1 ? Promise.reject(throttled(5_000)) : Promise.resolve('page');
      }),
    );
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(5_000);
  });

  it('gives up on throttling within its budget, saying how long it tried', async () => {
    const clock = new ManualClock(0);
    const failure = await drive(
      clock,
      callerOn(clock, { maxAttempts: 100, budgetMs: 20_000 }).call('servers.list', { idempotent: true }, () => Promise.reject(throttled(3_000))),
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CloudError);
    expect(failure).toMatchObject({ kind: 'throttled', cloud: 'sim-a', operation: 'servers.list', retryAfterMs: 3_000 });
    expect((failure as Error).message).toMatch(/^cloud sim-a: servers\.list failed: Rate exceeded \(gave up after \d+ attempts in (1\d|20)(\.\d)? s\)$/);
    expect(clock.now()).toBeLessThanOrEqual(20_100);
  });

  it('abandons an attempt that does not answer within its timeout and says so', async () => {
    const clock = new ManualClock(0);
    const failure = await drive(
      clock,
      callerOn(clock, { maxAttempts: 2 }).call('servers.show', { idempotent: true }, (signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)))),
    ).catch((error: unknown) => error);
    expect(failure).toMatchObject({ kind: 'unavailable', outcomeUnknown: true });
    expect((failure as Error).message).toContain('cloud sim-a: servers.show failed: no answer within the timeout (gave up after 2 attempts');
  });

  it('does not repeat a call that is not idempotent once it may have reached the cloud', async () => {
    const clock = new ManualClock(0);
    let attempts = 0;
    const failure = await drive(
      clock,
      callerOn(clock).call('servers.create', { idempotent: false }, () => {
        attempts++;
        return Promise.reject(reset);
      }),
    ).catch((error: unknown) => error);
    expect(attempts).toBe(1);
    expect(failure).toMatchObject({ kind: 'unavailable', outcomeUnknown: true, operation: 'servers.create' });
  });

  it('repeats a call that is not idempotent when the connection was refused, since it never reached the cloud', async () => {
    const clock = new ManualClock(0);
    let attempts = 0;
    const answer = await drive(
      clock,
      callerOn(clock).call('servers.create', { idempotent: false }, () => {
        attempts++;
        return attempts === 1 ? Promise.reject(refused) : Promise.resolve('created');
      }),
    );
    expect(answer).toBe('created');
  });

  it('never retries a refusal', async () => {
    const clock = new ManualClock(0);
    for (const kind of ['auth', 'rejected', 'not-found', 'conflict'] as const) {
      let attempts = 0;
      const failure = await drive(
        clock,
        callerOn(clock).call('servers.reboot', { idempotent: true }, () => {
          attempts++;
          return Promise.reject(new CloudError(kind, 'sim-a', 'servers.reboot', 'no'));
        }),
      ).catch((error: unknown) => error);
      expect(attempts).toBe(1);
      expect(failure).toMatchObject({ kind });
    }
  });

  it('counts every attempt against the limiter', async () => {
    const clock = new ManualClock(0);
    const limiter = new CloudLimiter({ requestsPerSecond: 1_000, concurrency: 10 }, clock);
    const caller = createCloudCaller({ cloud: 'sim-a', limiter, clock, policy, random: () => 0.5 });
    let attempts = 0;
    await drive(
      clock,
      caller.call('servers.list', { idempotent: true }, () => {
        attempts++;
        return attempts < 4 ? Promise.reject(throttled()) : Promise.resolve('page');
      }),
    );
    expect(limiter.snapshot().started).toBe(4);
  });

  it('counts each request by cloud, operation and outcome, and how long it took', async () => {
    const clock = new ManualClock(0);
    const recorded: string[] = [];
    const limiter = new CloudLimiter({ requestsPerSecond: 1_000, concurrency: 10 }, clock);
    const caller = createCloudCaller({ cloud: 'sim-a', limiter, clock, policy, random: () => 0.5, metrics: { request: (cloud, operation, outcome, seconds) => recorded.push(`${cloud} ${operation} ${outcome} ${seconds >= 0}`) } });
    let attempts = 0;
    await drive(
      clock,
      caller.call('servers.list', { idempotent: true }, () => {
        attempts++;
        return attempts < 3 ? Promise.reject(throttled()) : Promise.resolve('page');
      }),
    );
    await drive(clock, caller.call('servers.show', { idempotent: true }, () => Promise.reject(new CloudError('not-found', 'sim-a', 'servers.show', 'gone'))).catch(() => undefined));
    expect(recorded).toEqual(['sim-a servers.list throttled true', 'sim-a servers.list throttled true', 'sim-a servers.list ok true', 'sim-a servers.show not-found true']);
  });
});
