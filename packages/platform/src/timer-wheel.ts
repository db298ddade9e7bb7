/**
 * One timer for thousands of periodic tasks. Ten thousand agents beating every second would be
 * ten thousand Node timers, each firing alone; the wheel instead rounds every due time up to a
 * tick (10 ms by default), keeps one bucket per tick, and arms a single clock timer for the
 * earliest non-empty bucket. A tick's tasks run together, so their side effects (socket writes)
 * batch naturally, and a task is never run early: lateness from rounding is below one tick.
 */
import type { Clock, ScheduledTask } from './clock.ts';

/**
 * Something the wheel runs. Periodic callers pass the same object every time and reschedule it
 * from `onDue`: the wheel stores it as is, so a beat allocates nothing that outlives a tick (10,000
 * short-lived closures a second would all survive into the old generation and end in long GCs).
 */
export interface WheelTask {
  onDue(scheduledAt: number): void;
}

/** The tasks of one tick, with their due times (a parallel array keeps the times unboxed). */
interface Bucket {
  tasks: WheelTask[];
  ats: number[];
}

export interface TimerWheelOptions {
  /** Bucket width in milliseconds; the most a task can run late because of rounding. */
  tickMs?: number;
  /** Called before and after each batch of due tasks (to cork and uncork sockets, say). */
  onBatchStart?: () => void;
  onBatchEnd?: () => void;
  /** Receives what a task threw; the other tasks of the batch still run. Default: rethrown after the batch. */
  onError?: (error: unknown) => void;
}

/**
 * Tasks cannot be cancelled: a task that no longer wants to run ignores its `onDue` (as a stopped
 * agent does), which keeps scheduling allocation-free.
 */
export class TimerWheel {
  readonly tickMs: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<number, Bucket>();
  /** Emptied buckets, reused. */
  readonly #spare: Bucket[] = [];
  /** Min-heap of the tick numbers that have a bucket. */
  readonly #ticks: number[] = [];
  readonly #onBatchStart: (() => void) | undefined;
  readonly #onBatchEnd: (() => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;
  #wake: ScheduledTask | undefined;
  #wakeTick = Number.POSITIVE_INFINITY;
  /** The tick being run, while tasks run; new tasks never land on or before it. */
  #firingTick: number | undefined;
  #size = 0;
  #stopped = false;

  constructor(clock: Clock, options: TimerWheelOptions = {}) {
    const tickMs = options.tickMs ?? 10;
    if (!(tickMs > 0)) throw new Error(`tickMs must be positive, got ${tickMs}`);
    this.tickMs = tickMs;
    this.#clock = clock;
    this.#onBatchStart = options.onBatchStart;
    this.#onBatchEnd = options.onBatchEnd;
    this.#onError = options.onError;
  }

  /** How many tasks are waiting. */
  get size(): number {
    return this.#size;
  }

  /** Runs `task.onDue(at)` at the first tick at or after `at` (epoch ms on the wheel's clock). */
  schedule(at: number, task: WheelTask): void {
    if (this.#stopped) throw new Error('the timer wheel is stopped');
    let tick = Math.ceil(at / this.tickMs);
    if (this.#firingTick !== undefined && tick <= this.#firingTick) tick = this.#firingTick + 1;
    let bucket = this.#buckets.get(tick);
    if (bucket === undefined) {
      bucket = this.#spare.pop() ?? { tasks: [], ats: [] };
      this.#buckets.set(tick, bucket);
      this.#push(tick);
    }
    bucket.tasks.push(task);
    bucket.ats.push(at);
    this.#size++;
    if (this.#firingTick === undefined && tick < this.#wakeTick) this.#arm(tick);
  }

  /** Drops every task; the wheel cannot be used afterwards. */
  stop(): void {
    this.#stopped = true;
    this.#wake?.cancel();
    this.#wake = undefined;
    this.#buckets.clear();
    this.#ticks.length = 0;
    this.#size = 0;
  }

  #arm(tick: number): void {
    this.#wake?.cancel();
    this.#wakeTick = tick;
    this.#wake = this.#clock.schedule(tick * this.tickMs - this.#clock.now(), () => this.#fire());
  }

  #fire(): void {
    this.#wake = undefined;
    this.#wakeTick = Number.POSITIVE_INFINITY;
    const nowTick = Math.floor(this.#clock.now() / this.tickMs);
    let failure: { error: unknown } | undefined;
    this.#onBatchStart?.();
    try {
      for (;;) {
        const tick = this.#ticks[0];
        if (tick === undefined || tick > nowTick) break;
        this.#pop();
        const bucket = this.#buckets.get(tick);
        this.#buckets.delete(tick);
        if (bucket === undefined) continue;
        this.#firingTick = tick;
        const { tasks, ats } = bucket;
        this.#size -= tasks.length;
        for (let index = 0; index < tasks.length; index++) {
          try {
            (tasks[index] as WheelTask).onDue(ats[index] as number);
          } catch (error) {
            if (this.#onError) this.#onError(error);
            else failure ??= { error };
          }
        }
        tasks.length = 0;
        ats.length = 0;
        this.#spare.push(bucket);
      }
    } finally {
      this.#firingTick = undefined;
      this.#onBatchEnd?.();
      const next = this.#ticks[0];
      if (!this.#stopped && next !== undefined) this.#arm(next);
    }
    if (failure) throw failure.error;
  }
  #push(tick: number): void {
    const heap = this.#ticks;
    heap.push(tick);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentTick = heap[parent] as number;
      if (parentTick <= tick) break;
      heap[index] = parentTick;
      index = parent;
    }
    heap[index] = tick;
  }

  #pop(): void {
    const heap = this.#ticks;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as number) < (heap[left] as number) ? right : left;
      if ((heap[child] as number) >= last) break;
      heap[index] = heap[child] as number;
      index = child;
    }
    heap[index] = last;
  }
}
