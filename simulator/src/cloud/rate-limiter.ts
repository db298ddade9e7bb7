/** A token bucket on the injected clock, used to throttle a cloud's API like a real provider. */
import type { Clock } from '@defib/platform';
import type { RateLimitConfig } from './cloud-config.ts';

/** The outcome of asking the bucket for one call: allowed, or refused with a suggested wait. */
export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

export class RateLimiter {
  readonly #config: RateLimitConfig;
  readonly #clock: Clock;
  #tokens: number;
  #refilledAt: number;

  constructor(config: RateLimitConfig, clock: Clock) {
    this.#config = config;
    this.#clock = clock;
    this.#tokens = config.burst;
    this.#refilledAt = clock.now();
  }

  take(): RateDecision {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#config.burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#config.perSecond);
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil(((1 - this.#tokens) / this.#config.perSecond) * 1000) };
  }
}
