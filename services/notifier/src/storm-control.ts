/**
 * Storm control: each subscription has a token bucket. An event that finds a token is sent on
 * its own; once the bucket is empty, events are grouped into one message per grouping window.
 * While a group is open, later events join it even if a token has come back, so nothing sent on
 * its own overtakes an event waiting in a group. 500 `assembly.failed` in ten seconds with a
 * burst of 10 and a 10 s window thus become about a dozen messages, not 500.
 */

export interface RateLimit {
  /** Messages that may go out back to back. */
  burst: number;
  /** Tokens regained per minute. */
  perMinute: number;
  /** How long a group collects events before it is sent. */
  groupWindowMs: number;
}

export interface BucketState {
  tokens: number;
  refilledAt: Date;
}

/** A full bucket, as a subscription starts. */
export function fullBucket(limit: RateLimit, now: Date): BucketState {
  return { tokens: limit.burst, refilledAt: now };
}

/** The bucket at `now`: tokens regained since the last refill, up to the burst. */
export function refill(limit: RateLimit, state: BucketState, now: Date): BucketState {
  const elapsedMs = Math.max(0, now.getTime() - state.refilledAt.getTime());
  const tokens = Math.min(limit.burst, state.tokens + (elapsedMs / 60_000) * limit.perMinute);
  return { tokens, refilledAt: now };
}

/** Takes one token if there is one. */
export function takeToken(limit: RateLimit, state: BucketState, now: Date): { allowed: boolean; state: BucketState } {
  const current = refill(limit, state, now);
  if (current.tokens >= 1) return { allowed: true, state: { ...current, tokens: current.tokens - 1 } };
  return { allowed: false, state: current };
}

/** How one matched event is delivered. */
export type Routing = { mode: 'single' } | { mode: 'group'; windowMs: number };

/**
 * Decides how an event goes out to one target of a subscription. A positive digest window (email)
 * always groups; otherwise an open group is joined, a token sends it alone, and no token opens a
 * group. Without a rate limit, every event goes alone. Returns the bucket to store.
 */
export function routeEvent(input: {
  limit: RateLimit | null;
  digestWindowMs: number;
  groupOpen: boolean;
  bucket: BucketState | undefined;
  now: Date;
}): { routing: Routing; bucket: BucketState | undefined } {
  const { limit, digestWindowMs, groupOpen, now } = input;
  if (digestWindowMs > 0) return { routing: { mode: 'group', windowMs: digestWindowMs }, bucket: input.bucket };
  if (limit === null) return { routing: { mode: 'single' }, bucket: input.bucket };
  if (groupOpen) return { routing: { mode: 'group', windowMs: limit.groupWindowMs }, bucket: input.bucket };
  const taken = takeToken(limit, input.bucket ?? fullBucket(limit, now), now);
  return { routing: taken.allowed ? { mode: 'single' } : { mode: 'group', windowMs: limit.groupWindowMs }, bucket: taken.state };
}
