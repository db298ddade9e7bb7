/**
 * When to try a delivery again: exponential backoff with jitter, bounded in attempts and delay,
 * and a receiver's `Retry-After` honoured (never retried sooner than it asks, never later than the
 * longest delay). Pure: randomness is injected, so a seeded source gives a reproducible schedule.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included; after the last one the delivery is given up. */
  attempts: number;
  /** Delay after the first failed attempt. */
  initialDelayMs: number;
  /** Each further delay is the previous one times this. */
  multiplier: number;
  /** No delay exceeds this (jitter and `Retry-After` included). */
  maxDelayMs: number;
  /** Spread of each delay, as a fraction: 0.2 → anywhere in ±20 %. */
  jitter: number;
}

/** A number in [0, 1). */
export type RandomSource = () => number;

/**
 * The delay before the next attempt after `attemptsMade` attempts have failed, or `undefined` when
 * the schedule is exhausted. `retryAfterMs` is what the receiver asked for, if anything.
 */
export function nextRetryDelay(policy: RetryPolicy, attemptsMade: number, random: RandomSource, retryAfterMs?: number): number | undefined {
  if (attemptsMade >= policy.attempts) return undefined;
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** Math.max(0, attemptsMade - 1));
  const spread = 1 - policy.jitter + 2 * policy.jitter * random();
  const jittered = Math.round(Math.min(policy.maxDelayMs, base * spread));
  const wanted = retryAfterMs === undefined ? jittered : Math.max(jittered, retryAfterMs);
  return Math.max(0, Math.min(policy.maxDelayMs, wanted));
}

/** The whole schedule without jitter: the delay after each failed attempt. For documentation and tests. */
export function nominalSchedule(policy: RetryPolicy): number[] {
  const delays: number[] = [];
  for (let made = 1; made < policy.attempts; made += 1) delays.push(nextRetryDelay({ ...policy, jitter: 0 }, made, () => 0.5) ?? 0);
  return delays;
}

/**
 * `Retry-After` in milliseconds: delay-seconds (`120`) or an HTTP date. `undefined` when absent or
 * unreadable; a date in the past is 0.
 */
export function parseRetryAfter(header: string | undefined, now: Date): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[a-z]/i.test(text)) return undefined;
  return Math.max(0, at - now.getTime());
}

/** A seeded source (mulberry32) for reproducible jitter in tests and benchmarks. */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
