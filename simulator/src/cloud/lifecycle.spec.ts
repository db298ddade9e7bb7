import { describe, expect, it } from 'vitest';
import { defaultTimings } from './cloud-config.ts';
import { begin, complete, initialState, isGuestRunning, nominalDuration } from './lifecycle.ts';
import type { LifecycleState } from './lifecycle.ts';

const at = (phase: LifecycleState['phase'], task: LifecycleState['task'] = null): LifecycleState => ({ phase, task });

describe('vm lifecycle', () => {
  it('finishes a build in running', () => {
    expect(complete(initialState)).toEqual(at('running'));
  });

  it.each([
    [at('running', 'reboot'), at('running')],
    [at('running', 'hard-reboot'), at('running')],
    [at('stopped', 'hard-reboot'), at('running')],
    [at('running', 'stop'), at('stopped')],
    [at('stopped', 'start'), at('running')],
    [at('running', 'rebuild'), at('running')],
    [at('stopped', 'rebuild'), at('stopped')],
    [at('error', 'rebuild'), at('running')],
    [at('building', 'delete'), at('deleted')],
    [at('running', 'delete'), at('deleted')],
  ])('finishes %j in %j', (from, to) => {
    expect(complete(from)).toEqual(to);
  });

  it('keeps the phase while an operation is in progress', () => {
    expect(begin(at('running'), 'stop')).toEqual(at('running', 'stop'));
  });

  it('takes the configured time for what is in progress', () => {
    expect(nominalDuration(initialState, defaultTimings)).toBe(defaultTimings.build);
    expect(nominalDuration(at('running', 'hard-reboot'), defaultTimings)).toBe(defaultTimings.hardReboot);
    expect(nominalDuration(at('running'), defaultTimings)).toBe(0);
  });

  it('runs a guest only when running and not rebooting', () => {
    expect(isGuestRunning(at('running'))).toBe(true);
    expect(isGuestRunning(at('running', 'stop'))).toBe(true);
    expect(isGuestRunning(at('running', 'reboot'))).toBe(false);
    expect(isGuestRunning(at('stopped'))).toBe(false);
  });
});
