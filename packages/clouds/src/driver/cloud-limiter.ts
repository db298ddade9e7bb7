/**
 * The client-side limit on one cloud's API, shared by everything in one process that talks to that
 * cloud: the monitor's polls and recovery's actions queue in one line. Calls start in arrival
 * order, evenly spaced at `1 / requestsPerSecond` (no bursts, so no one-second window ever holds
 * more than the limit), with at most `concurrency` under way. A cloud that throttles during a
 * host failure makes the outage worse; the limiter is how Defib never becomes that stampede.
 */
import type { CloudLimits } from '@defib/contracts';
import { RealClock, type Clock, type ScheduledTask } from '@defib/platform';

/**
 * Calls are spaced 1 % wider than the rate alone asks: a timer fires when the clock says, not when
 * the cloud's clock does, and a request leaves the process a little after it is admitted, so
 * spacing exactly at the limit would let a one-second window at the cloud now and then hold one
 * request more than the limit (measured: 11 at a limit of 10).
 */
const SPACING_GUARD = 1.01;

interface Waiter {
  readonly admit: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** What a limiter is doing, for metrics and benchmarks. */
export interface LimiterSnapshot {
  readonly running: number;
  readonly queued: number;
  /** Calls admitted since the limiter was made. */
  readonly started: number;
}

export class CloudLimiter {
  #limits: CloudLimits;
  readonly #clock: Clock;
  readonly #queue: Waiter[] = [];
  #running = 0;
  #started = 0;
  /** When the next call may start. */
  #nextStartAt = Number.NEGATIVE_INFINITY;
  #timer: ScheduledTask | undefined;

  constructor(limits: CloudLimits, clock: Clock = new RealClock()) {
    this.#limits = limits;
    this.#clock = clock;
  }

  get limits(): CloudLimits {
    return this.#limits;
  }

  /** Takes new limits (the cloud's registration changed); calls under way are not disturbed. */
  update(limits: CloudLimits): void {
    if (limits.requestsPerSecond === this.#limits.requestsPerSecond && limits.concurrency === this.#limits.concurrency) return;
    this.#limits = limits;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#nextStartAt = Math.min(this.#nextStartAt, this.#clock.now() + this.#spacingMs());
    this.#pump();
  }

  snapshot(): LimiterSnapshot {
    return { running: this.#running, queued: this.#queue.length, started: this.#started };
  }

  /**
   * Runs `task` when the limits allow. An aborted `signal` takes a waiting call out of the line
   * (rejecting with the signal's reason); a call already running is the task's to stop.
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#admission(signal);
    try {
      return await task();
    } finally {
      this.#running--;
      this.#pump();
    }
  }

  #admission(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        admit: () => {
          signal?.removeEventListener('abort', waiter.onAbort);
          resolve();
        },
        reject,
        signal,
        onAbort: () => {
          const index = this.#queue.indexOf(waiter);
          if (index >= 0) this.#queue.splice(index, 1);
          reject(signal?.reason instanceof Error ? signal.reason : new DOMException('the call was abandoned while waiting for the limiter', 'AbortError'));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      this.#pump();
    });
  }

  #spacingMs(): number {
    return (1_000 * SPACING_GUARD) / this.#limits.requestsPerSecond;
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#running < this.#limits.concurrency) {
      const now = this.#clock.now();
      if (now < this.#nextStartAt) {
        this.#timer ??= this.#clock.schedule(this.#nextStartAt - now, () => {
          this.#timer = undefined;
          this.#pump();
        });
        return;
      }
      const waiter = this.#queue.shift();
      if (!waiter) return;
      this.#running++;
      this.#started++;
      this.#nextStartAt = now + this.#spacingMs();
      waiter.admit();
    }
  }
}

/**
 * The limiters of one process, one per cloud name: every driver built for a cloud shares its
 * limiter, so the monitor's poll and recovery's actions in one process count against one limit.
 */
export class CloudLimiters {
  readonly #clock: Clock;
  readonly #limiters = new Map<string, CloudLimiter>();

  constructor(clock: Clock = new RealClock()) {
    this.#clock = clock;
  }

  /** Every cloud's limiter so far, by cloud name. */
  entries(): IterableIterator<[string, CloudLimiter]> {
    return this.#limiters.entries();
  }

  /** The limiter of cloud `cloud`, made on first use and following its registration's limits. */
  for(cloud: string, limits: CloudLimits): CloudLimiter {
    const existing = this.#limiters.get(cloud);
    if (existing) {
      existing.update(limits);
      return existing;
    }
    const limiter = new CloudLimiter(limits, this.#clock);
    this.#limiters.set(cloud, limiter);
    return limiter;
  }
}
