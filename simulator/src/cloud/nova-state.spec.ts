import { describe, expect, it } from 'vitest';
import type { LifecycleState, Operation } from './lifecycle.ts';
import { novaGuard, novaState } from './nova-state.ts';

const at = (phase: LifecycleState['phase'], task: LifecycleState['task'] = null): LifecycleState => ({ phase, task });

describe('nova state mapping', () => {
  it.each([
    [at('building'), 'building', 'spawning', 0, 'BUILD'],
    [at('running'), 'active', null, 1, 'ACTIVE'],
    [at('running', 'reboot'), 'active', 'reboot_started', 1, 'REBOOT'],
    [at('running', 'hard-reboot'), 'active', 'reboot_started_hard', 1, 'HARD_REBOOT'],
    [at('stopped', 'hard-reboot'), 'stopped', 'reboot_started_hard', 4, 'SHUTOFF'],
    [at('running', 'stop'), 'active', 'powering-off', 1, 'ACTIVE'],
    [at('stopped'), 'stopped', null, 4, 'SHUTOFF'],
    [at('stopped', 'start'), 'stopped', 'powering-on', 4, 'SHUTOFF'],
    [at('running', 'rebuild'), 'active', 'rebuilding', 1, 'REBUILD'],
    [at('error'), 'error', null, 0, 'ERROR'],
    [at('running', 'delete'), 'active', 'deleting', 1, 'ACTIVE'],
    [at('deleted'), 'deleted', null, 0, 'DELETED'],
  ])('shows %j as vm_state %s, task_state %s, power_state %i, status %s', (state, vmState, taskState, powerState, status) => {
    expect(novaState(state)).toEqual({ vmState, taskState, powerState, status });
  });
});

describe('nova state checks', () => {
  const verdict = (state: LifecycleState, operation: Operation): string => {
    const result = novaGuard(state, operation);
    return result.kind === 'reject' ? `${result.attribute} ${result.value}` : result.kind;
  };

  it('refuses os-start on an ACTIVE server because of its vm_state', () => {
    expect(verdict(at('running'), 'start')).toBe('vm_state active');
  });

  it('refuses os-stop on a SHUTOFF server and accepts it on an ERROR one', () => {
    expect(verdict(at('stopped'), 'stop')).toBe('vm_state stopped');
    expect(verdict(at('error'), 'stop')).toBe('begin');
  });

  it('refuses a soft reboot during a reboot but lets a hard reboot take over', () => {
    expect(verdict(at('running', 'reboot'), 'reboot')).toBe('task_state reboot_started');
    expect(verdict(at('running', 'reboot'), 'hard-reboot')).toBe('begin');
  });

  it('hard-reboots stopped and errored servers but soft-reboots only active ones', () => {
    expect(verdict(at('stopped'), 'hard-reboot')).toBe('begin');
    expect(verdict(at('error'), 'hard-reboot')).toBe('begin');
    expect(verdict(at('stopped'), 'reboot')).toBe('vm_state stopped');
  });

  it('refuses every action but delete while building', () => {
    for (const operation of ['reboot', 'hard-reboot', 'stop', 'start', 'rebuild'] as const) expect(verdict(at('building'), operation)).toBe('vm_state building');
    expect(verdict(at('building'), 'delete')).toBe('begin');
  });

  it('refuses to stop a server that is powering on', () => {
    expect(verdict(at('stopped', 'start'), 'stop')).toBe('vm_state stopped');
    expect(verdict(at('running', 'stop'), 'stop')).toBe('task_state powering-off');
  });

  it('treats a second delete as accepted and changes nothing', () => {
    expect(verdict(at('running', 'delete'), 'delete')).toBe('no-op');
  });

  it('rebuilds active, stopped and errored servers', () => {
    expect(verdict(at('running'), 'rebuild')).toBe('begin');
    expect(verdict(at('stopped'), 'rebuild')).toBe('begin');
    expect(verdict(at('error'), 'rebuild')).toBe('begin');
  });
});
