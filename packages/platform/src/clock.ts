/**
 * Time for everything that runs in a process. Every delay and timestamp goes through an injected
 * Clock so that tests can drive time by hand (`ManualClock`, from `@defib/platform/testing`) and
 * the simulator's scenarios replay identically.
 *
 * Which clock governs what:
 * - **the database clock** (`clock_timestamp()` in SQL) for leases, claims, retry schedules and
 *   anything else compared across processes: replicas never compare their own clocks;
 * - **the process clock** (this `Clock`) for what one process measures on its own: detection
 *   timers (silence after `missed × interval`), command deadlines, backoff, the simulator's time.
 */

/** A scheduled callback that can still be cancelled. */
export interface ScheduledTask {
  cancel(): void;
}

/** A process's source of time: the only one domain code uses. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `task` once, `delayMs` from now (negative delays count as zero). */
  schedule(delayMs: number, task: () => void): ScheduledTask;
}

/** Wall-clock time on Node timers. Timers are unref'd: a pending task never keeps the process alive. */
export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }

  schedule(delayMs: number, task: () => void): ScheduledTask {
    const timer = setTimeout(task, Math.max(0, delayMs));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  }
}
