import { describe, expect, it } from 'vitest';
import { CRASH_DETAIL, START_FAILED_DETAIL, enter, newResource, planCommand, startOutcome } from './resource.ts';

describe('resource state machine', () => {
  it('starts a new resource in starting, with its parameters copied', () => {
    const params = { DB_HOST: '10.0.0.5' };
    const resource = newResource('httpd', params, 1_000);
    expect(resource).toEqual({ name: 'httpd', state: 'starting', since: 1_000, detail: undefined, params });
    expect(resource.params).not.toBe(params);
  });

  it('finishes a start running, or failed under a no-restart fault', () => {
    expect(startOutcome(undefined)).toEqual({ state: 'running', ok: true });
    expect(startOutcome({ kind: 'flap', failAfterMs: 5_000 })).toEqual({ state: 'running', ok: true });
    expect(startOutcome({ kind: 'no-restart' })).toEqual({ state: 'failed', ok: false, error: START_FAILED_DETAIL });
  });

  it('restarts from any state through starting', () => {
    for (const state of ['running', 'failed', 'stopped'] as const) {
      expect(planCommand('restart', state, undefined)).toEqual({ kind: 'run', during: 'starting', outcome: { state: 'running', ok: true } });
    }
    expect(planCommand('restart', 'failed', { kind: 'no-restart' })).toEqual({ kind: 'run', during: 'starting', outcome: { state: 'failed', ok: false, error: START_FAILED_DETAIL } });
  });

  it('answers a start of a running resource and a stop of a stopped one at once', () => {
    expect(planCommand('start', 'running', undefined)).toEqual({ kind: 'immediate', outcome: { state: 'running', ok: true } });
    expect(planCommand('stop', 'stopped', undefined)).toEqual({ kind: 'immediate', outcome: { state: 'stopped', ok: true } });
    expect(planCommand('start', 'stopped', undefined)).toMatchObject({ kind: 'run', during: 'starting' });
    expect(planCommand('stop', 'running', undefined)).toEqual({ kind: 'run', during: 'stopping', outcome: { state: 'stopped', ok: true } });
  });

  it('reconfigures without changing the state (a reload)', () => {
    expect(planCommand('reconfigure', 'running', { kind: 'no-restart' })).toEqual({ kind: 'run', during: 'unchanged', outcome: { state: 'unchanged', ok: true } });
  });

  it('records when and why a resource changed state, and reports no change when nothing changed', () => {
    const resource = newResource('mysqld', undefined, 1_000);
    expect(enter(resource, 'failed', 2_000, CRASH_DETAIL)).toBe(true);
    expect(resource).toMatchObject({ state: 'failed', since: 2_000, detail: CRASH_DETAIL });
    expect(enter(resource, 'failed', 3_000, CRASH_DETAIL)).toBe(false);
    expect(resource.since).toBe(2_000);
    expect(enter(resource, 'running', 4_000)).toBe(true);
    expect(resource.detail).toBeUndefined();
  });
});
