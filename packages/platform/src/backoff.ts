/**
 * How every reconnecting or retrying loop in Defib waits (the broker connection, the LISTEN
 * connection, the outbox relay, the notifier's claim loop, work waiting out a database outage):
 * growing delays, capped, with jitter so that replicas which lost the same server at the same
 * moment do not come back in lockstep.
 */

/** Exponential backoff with "equal jitter": half the ceiling plus a random half, so replicas spread out. */
export function jitteredDelay(initialDelayMs: number, maxDelayMs: number, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt, 20));
  return ceiling / 2 + random() * (ceiling / 2);
}
