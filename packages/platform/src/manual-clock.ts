/** Time that moves only when a test (or a scenario) says so. */
import type { Clock, ScheduledTask } from './clock.ts';

interface PendingTask {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
  cancelled: boolean;
}

/**
 * Time that moves only when told to. `advance` runs every task that falls due, in due order (ties
 * in scheduling order), including tasks scheduled by those tasks within the window.
 */
export class ManualClock implements Clock {
  #now: number;
  #order = 0;
  #pending: PendingTask[] = [];

  constructor(start = Date.UTC(2025, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  schedule(delayMs: number, task: () => void): ScheduledTask {
    const entry: PendingTask = { at: this.#now + Math.max(0, delayMs), order: this.#order++, run: task, cancelled: false };
    this.#pending.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Moves time forward by `ms`, running what falls due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#nextDue(target);
      if (!next) break;
      this.#pending.splice(this.#pending.indexOf(next), 1);
      this.#now = next.at;
      next.run();
    }
    this.#now = target;
  }

  /** Runs everything scheduled, however far ahead, until nothing is left (bounded against loops). */
  runAll(maxTasks = 100_000): void {
    for (let ran = 0; ran < maxTasks; ran++) {
      const next = this.#nextDue(Number.POSITIVE_INFINITY);
      if (!next) return;
      this.advance(next.at - this.#now);
    }
    throw new Error(`ManualClock.runAll gave up after ${maxTasks} tasks`);
  }

  /** How many tasks are waiting to run. */
  get pendingCount(): number {
    return this.#pending.filter((task) => !task.cancelled).length;
  }

  #nextDue(limit: number): PendingTask | undefined {
    this.#pending = this.#pending.filter((task) => !task.cancelled);
    let best: PendingTask | undefined;
    for (const task of this.#pending) {
      if (task.at > limit) continue;
      if (!best || task.at < best.at || (task.at === best.at && task.order < best.order)) best = task;
    }
    return best;
  }
}
