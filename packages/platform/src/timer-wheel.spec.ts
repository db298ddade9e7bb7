import { describe, expect, it } from 'vitest';
import { ManualClock } from './manual-clock.ts';
import { TimerWheel } from './timer-wheel.ts';
import type { WheelTask } from './timer-wheel.ts';

const task = (run: (scheduledAt: number) => void): WheelTask => ({ onDue: run });

const start = Date.UTC(2025, 0, 1);

describe('timer wheel', () => {
  it('runs a task at the first tick at or after its due time, never early', () => {
    const clock = new ManualClock(start);
    const wheel = new TimerWheel(clock, { tickMs: 10 });
    const ran: { at: number; now: number }[] = [];
    wheel.schedule(start + 23, task((at) => ran.push({ at, now: clock.now() })));
    clock.advance(29);
    expect(ran).toEqual([]);
    clock.advance(1);
    expect(ran).toEqual([{ at: start + 23, now: start + 30 }]);
  });

  it('runs everything due in one tick together, in scheduling order, on one clock timer', () => {
    const clock = new ManualClock(start);
    const batches: string[] = [];
    const wheel = new TimerWheel(clock, { tickMs: 10, onBatchStart: () => batches.push('start'), onBatchEnd: () => batches.push('end') });
    for (const [offset, name] of [[5, 'a'], [1, 'b'], [10, 'c'], [15, 'd']] as const) wheel.schedule(start + offset, task(() => batches.push(name)));
    expect(clock.pendingCount).toBe(1);
    clock.advance(10);
    expect(batches).toEqual(['start', 'a', 'b', 'c', 'end']);
    clock.advance(10);
    expect(batches.slice(5)).toEqual(['start', 'd', 'end']);
    expect(clock.pendingCount).toBe(0);
  });

  it('re-arms for an earlier task scheduled after a later one', () => {
    const clock = new ManualClock(start);
    const wheel = new TimerWheel(clock, { tickMs: 10 });
    const ran: string[] = [];
    wheel.schedule(start + 1_000, task(() => ran.push('late')));
    wheel.schedule(start + 20, task(() => ran.push('early')));
    clock.advance(20);
    expect(ran).toEqual(['early']);
    clock.advance(980);
    expect(ran).toEqual(['early', 'late']);
  });

  it('takes the same task object again and again without holding anything else', () => {
    const clock = new ManualClock(start);
    const wheel = new TimerWheel(clock, { tickMs: 10 });
    const seen: number[] = [];
    const periodic: WheelTask = {
      onDue(at) {
        seen.push(at);
        wheel.schedule(at + 1_000, periodic);
      },
    };
    wheel.schedule(start + 5, periodic);
    clock.advance(3_010);
    expect(seen).toEqual([start + 5, start + 1_005, start + 2_005, start + 3_005]);
    expect(wheel.size).toBe(1);
  });

  it('runs a task rescheduled into the past on the next tick instead of looping', () => {
    const clock = new ManualClock(start);
    const wheel = new TimerWheel(clock, { tickMs: 10 });
    const ran: number[] = [];
    const again: WheelTask = {
      onDue() {
        ran.push(clock.now());
        if (ran.length < 3) wheel.schedule(clock.now() - 100, again);
      },
    };
    wheel.schedule(start, again);
    clock.advance(100);
    expect(ran).toEqual([start, start + 10, start + 20]);
  });

  it('keeps running the rest of a batch when one task throws, and reports the error', () => {
    const clock = new ManualClock(start);
    const errors: unknown[] = [];
    const wheel = new TimerWheel(clock, { tickMs: 10, onError: (error) => errors.push(error) });
    const ran: string[] = [];
    wheel.schedule(
      start + 10,
      task(() => {
        throw new Error('boom');
      }),
    );
    wheel.schedule(start + 10, task(() => ran.push('after')));
    wheel.schedule(start + 20, task(() => ran.push('next tick')));
    clock.advance(20);
    expect(ran).toEqual(['after', 'next tick']);
    expect(errors).toEqual([new Error('boom')]);
  });

  it('drops everything when stopped', () => {
    const clock = new ManualClock(start);
    const wheel = new TimerWheel(clock, { tickMs: 10 });
    wheel.schedule(start + 10, task(() => undefined));
    wheel.stop();
    expect(clock.pendingCount).toBe(0);
    expect(() => wheel.schedule(start, task(() => undefined))).toThrow(/stopped/);
  });
});
