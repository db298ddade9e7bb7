import { describe, expect, it } from 'vitest';
import { ec2Guard, ec2State } from './ec2-state.ts';
import type { LifecycleState, Operation } from './lifecycle.ts';

const at = (phase: LifecycleState['phase'], task: LifecycleState['task'] = null): LifecycleState => ({ phase, task });

describe('ec2 state mapping', () => {
  it.each([
    [at('building'), 0, 'pending'],
    [at('running'), 16, 'running'],
    [at('running', 'reboot'), 16, 'running'],
    [at('running', 'delete'), 32, 'shutting-down'],
    [at('stopped', 'delete'), 32, 'shutting-down'],
    [at('deleted'), 48, 'terminated'],
    [at('running', 'stop'), 64, 'stopping'],
    [at('stopped'), 80, 'stopped'],
    [at('stopped', 'start'), 0, 'pending'],
    [at('error'), 80, 'stopped'],
  ])('shows %j as %i %s', (state, code, name) => {
    expect(ec2State(state)).toEqual({ code, name });
  });
});

describe('ec2 state checks', () => {
  const verdict = (state: LifecycleState, operation: Operation): string => ec2Guard(state, operation).kind;

  it('stops running instances and accepts stopping stopped or stopping ones without change', () => {
    expect(verdict(at('running'), 'stop')).toBe('begin');
    expect(verdict(at('stopped'), 'stop')).toBe('no-op');
    expect(verdict(at('running', 'stop'), 'stop')).toBe('no-op');
  });

  it('refuses to stop pending, shutting-down and terminated instances', () => {
    expect(verdict(at('building'), 'stop')).toBe('reject');
    expect(verdict(at('running', 'delete'), 'stop')).toBe('reject');
    expect(verdict(at('deleted'), 'stop')).toBe('reject');
  });

  it('starts stopped instances, accepts running or pending ones without change, refuses stopping ones', () => {
    expect(verdict(at('stopped'), 'start')).toBe('begin');
    expect(verdict(at('running'), 'start')).toBe('no-op');
    expect(verdict(at('building'), 'start')).toBe('no-op');
    expect(verdict(at('running', 'stop'), 'start')).toBe('reject');
  });

  it('reboots only running instances', () => {
    expect(verdict(at('running'), 'reboot')).toBe('begin');
    expect(verdict(at('stopped'), 'reboot')).toBe('reject');
    expect(verdict(at('building'), 'reboot')).toBe('reject');
  });

  it('terminates from every state, and terminating a terminated instance changes nothing', () => {
    for (const state of [at('building'), at('running'), at('stopped'), at('running', 'stop'), at('error')]) expect(verdict(state, 'delete')).toBe('begin');
    expect(verdict(at('deleted'), 'delete')).toBe('no-op');
  });
});
