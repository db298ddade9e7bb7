import { describe, expect, it } from 'vitest';
import { ManualClock } from './manual-clock.ts';

describe('manual clock', () => {
  it('runs tasks in due order when time advances past them, ties in scheduling order', () => {
    const clock = new ManualClock(0);
    const ran: string[] = [];
    clock.schedule(30, () => ran.push('c'));
    clock.schedule(10, () => ran.push('a'));
    clock.schedule(10, () => ran.push('b'));
    clock.advance(20);
    expect(ran).toEqual(['a', 'b']);
    expect(clock.now()).toBe(20);
    clock.advance(10);
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('shows each task the time it was due, and runs tasks scheduled by tasks within the window', () => {
    const clock = new ManualClock(0);
    const seen: number[] = [];
    clock.schedule(5, () => {
      seen.push(clock.now());
      clock.schedule(5, () => seen.push(clock.now()));
    });
    clock.advance(100);
    expect(seen).toEqual([5, 10]);
    expect(clock.now()).toBe(100);
  });

  it('never runs a cancelled task', () => {
    const clock = new ManualClock(0);
    let ran = false;
    clock.schedule(1, () => (ran = true)).cancel();
    clock.advance(10);
    expect(ran).toBe(false);
    expect(clock.pendingCount).toBe(0);
  });

  it('runAll drains everything however far ahead', () => {
    const clock = new ManualClock(0);
    let ran = 0;
    clock.schedule(1_000_000, () => ran++);
    clock.schedule(5, () => ran++);
    clock.runAll();
    expect(ran).toBe(2);
    expect(clock.now()).toBe(1_000_000);
  });
});
