import { describe, expect, it } from 'vitest';
import { ManualClock } from '@defib/platform/testing';
import { SelfLagGuard } from './self-lag-guard.ts';
import { DisruptionGuard, type ConfirmationRequest, type DisruptionGuardOptions, type GroupStanding } from './disruption-guard.ts';
import type { AssemblyLiveness } from './watch.ts';

function suspect(index: number, overrides: Partial<AssemblyLiveness> = {}): AssemblyLiveness {
  return {
    spec: {
      assemblyId: `assembly-${index}`,
      assembly: `web-${index}`,
      deployableId: 'deployable-1',
      deployable: 'shop',
      cloud: 'zed',
      intervalMs: 1_000,
      missed: 3,
      resources: [],
    },
    state: 'suspect',
    stateSince: 0,
    instanceId: `i-${index}`,
    bootId: 'boot-1',
    sequence: 41,
    lastBeatAt: 1_000,
    launchedAt: undefined,
    addresses: [],
    resources: {},
    dueAt: 3_000,
    staleBeats: 0,
    ...overrides,
  };
}

function guardOn(clock: ManualClock, options: Partial<DisruptionGuardOptions> = {}) {
  const confirmations: ConfirmationRequest[] = [];
  const changes: GroupStanding[] = [];
  const guard = new DisruptionGuard({
    clock,
    confirm: (request) => confirmations.push(request),
    onChange: (change) => changes.push(change),
    ...options,
  });
  return { guard, confirmations, changes };
}

/** Asks the gate for assemblies `from`..`to − 1` every recheck for `ms`; returns who was judged, and when. */
function recheck(clock: ManualClock, guard: DisruptionGuard, group: string, from: number, to: number, ms: number) {
  const judged = new Map<string, number>();
  for (let elapsed = 0; elapsed < ms; elapsed += 500) {
    for (let index = from; index < to; index++) {
      const liveness = suspect(index);
      if (judged.has(liveness.spec.assemblyId)) continue;
      if (guard.gate(liveness, group, clock.now()).verdict === 'judge') judged.set(liveness.spec.assemblyId, clock.now());
    }
    clock.advance(500);
  }
  return judged;
}

describe('disruption guard', () => {
  it('judges at once in a healthy group, without asking for confirmation', () => {
    const clock = new ManualClock();
    const { guard, confirmations } = guardOn(clock);
    guard.update('zed', 100, 5);
    expect(guard.gate(suspect(1), 'zed', clock.now())).toEqual({ verdict: 'judge' });
    expect(guard.gate(suspect(2), 'unknown-group', clock.now())).toEqual({ verdict: 'judge' });
    expect(confirmations).toEqual([]);
  });

  it('holds every verdict when 60 % of a 100-assembly group fall silent, and asks once per assembly', () => {
    const clock = new ManualClock();
    const { guard, confirmations, changes } = guardOn(clock);
    guard.update('zed', 100, 60);
    expect(guard.disrupted('zed')).toBe(true);
    expect(changes).toEqual([{ group: 'zed', disrupted: true, silent: 60, expected: 100 }]);
    const judged = recheck(clock, guard, 'zed', 0, 60, 10_000);
    expect(judged.size).toBe(0);
    expect(confirmations).toHaveLength(60);
    expect(new Set(confirmations.map((request) => request.assemblyId)).size).toBe(60);
    expect(confirmations[0]).toEqual({ assemblyId: 'assembly-0', cloud: 'zed', instanceId: 'i-0' });
    expect(guard.gate(suspect(0), 'zed', clock.now())).toEqual({ verdict: 'hold', recheckMs: 500 });
  });

  it('judges at once what the cloud confirms failed: a host failure turning 50 VMs to ERROR is recovered in seconds', () => {
    const clock = new ManualClock();
    const { guard } = guardOn(clock);
    guard.update('zed/az-1', 80, 50);
    recheck(clock, guard, 'zed/az-1', 0, 50, 500);
    for (let index = 0; index < 50; index++) guard.confirmed(`assembly-${index}`, 'failed');
    const judged = recheck(clock, guard, 'zed/az-1', 0, 50, 500);
    expect(judged.size).toBe(50);
  });

  it('keeps holding an assembly whose agent answers the ping', () => {
    const clock = new ManualClock();
    const { guard } = guardOn(clock);
    guard.update('zed', 100, 60);
    recheck(clock, guard, 'zed', 0, 60, 500);
    for (let index = 0; index < 60; index++) guard.confirmed(`assembly-${index}`, 'alive');
    expect(recheck(clock, guard, 'zed', 0, 60, 600_000).size).toBe(0);
  });

  it('releases unconfirmed verdicts at 0.01 per second in a large group, the first after 100 s', () => {
    const clock = new ManualClock();
    const { guard } = guardOn(clock);
    guard.update('zed', 60, 1);
    guard.update('zed/az-1', 100, 60);
    recheck(clock, guard, 'zed/az-1', 0, 60, 500);
    for (let index = 0; index < 60; index++) guard.confirmed(`assembly-${index}`, 'unknown');
    const start = clock.now() - 500;
    const judged = recheck(clock, guard, 'zed/az-1', 0, 60, 301_000);
    expect([...judged.values()].map((at) => Math.round((at - start) / 1000))).toEqual([100, 200, 300]);
  });

  it('releases nothing unconfirmed in a group of 50 or fewer', () => {
    const clock = new ManualClock();
    const { guard } = guardOn(clock);
    guard.update('zed', 60, 1);
    guard.update('zed/az-2', 50, 40);
    recheck(clock, guard, 'zed/az-2', 0, 40, 500);
    for (let index = 0; index < 40; index++) guard.confirmed(`assembly-${index}`, 'unknown');
    expect(recheck(clock, guard, 'zed/az-2', 0, 40, 600_000).size).toBe(0);
  });

  it('releases nothing unconfirmed while every group with members is disrupted', () => {
    const clock = new ManualClock();
    const { guard } = guardOn(clock);
    guard.update('zed/az-1', 100, 60);
    guard.update('zed/az-2', 100, 90);
    guard.update('aws', 0, 0);
    recheck(clock, guard, 'zed/az-1', 0, 60, 500);
    for (let index = 0; index < 60; index++) guard.confirmed(`assembly-${index}`, 'unknown');
    expect(recheck(clock, guard, 'zed/az-1', 0, 60, 600_000).size).toBe(0);
    // A group that still beats shows the monitoring path works: releases resume at the rate.
    guard.update('aws', 10, 0);
    expect(recheck(clock, guard, 'zed/az-1', 0, 60, 1_000).size).toBe(1);
    expect(recheck(clock, guard, 'zed/az-1', 0, 60, 50_000).size).toBe(0);
  });

  it('judges held verdicts normally once the group heals, and confirms afresh if it is disrupted again', () => {
    const clock = new ManualClock();
    const { guard, confirmations, changes } = guardOn(clock);
    guard.update('zed', 100, 60);
    recheck(clock, guard, 'zed', 0, 60, 1_000);
    guard.update('zed', 100, 10);
    expect(changes.at(-1)).toEqual({ group: 'zed', disrupted: false, silent: 10, expected: 100 });
    expect(recheck(clock, guard, 'zed', 0, 10, 500).size).toBe(10);
    guard.update('zed', 100, 70);
    recheck(clock, guard, 'zed', 10, 70, 500);
    expect(confirmations.filter((request) => request.assemblyId === 'assembly-20')).toHaveLength(2);
  });

  it('asks again in a new silence episode: another VM, or silent since a later beat', () => {
    const clock = new ManualClock();
    const { guard, confirmations } = guardOn(clock);
    guard.update('zed', 100, 60);
    guard.gate(suspect(1), 'zed', clock.now());
    guard.confirmed('assembly-1', 'alive');
    guard.gate(suspect(1), 'zed', clock.now());
    expect(confirmations).toHaveLength(1);
    expect(guard.gate(suspect(1, { lastBeatAt: 9_000 }), 'zed', clock.now()).verdict).toBe('hold');
    expect(guard.gate(suspect(1, { lastBeatAt: 9_000, instanceId: 'i-new' }), 'zed', clock.now()).verdict).toBe('hold');
    expect(confirmations).toHaveLength(3);
    guard.forget('assembly-1');
    guard.confirmed('assembly-1', 'failed'); // the answer of a forgotten episode
    expect(guard.gate(suspect(1, { lastBeatAt: 9_000, instanceId: 'i-new' }), 'zed', clock.now()).verdict).toBe('hold');
  });

  it('does not flap at the threshold: disrupted at 55 %, healed only below 45 %', () => {
    const clock = new ManualClock();
    const { guard, changes } = guardOn(clock);
    guard.update('zed', 100, 54);
    expect(guard.disrupted('zed')).toBe(false);
    for (const silent of [55, 54, 56, 50, 46, 45, 55, 50]) guard.update('zed', 100, silent);
    expect(guard.disrupted('zed')).toBe(true);
    expect(changes).toHaveLength(1);
    guard.update('zed', 100, 44);
    expect(guard.disrupted('zed')).toBe(false);
    guard.update('zed', 100, 54);
    expect(guard.disrupted('zed')).toBe(false);
    expect(changes.map((change) => change.disrupted)).toEqual([true, false]);
  });

  it('never calls a group of fewer than 3 disrupted: a 2-VM cloud losing both is a real failure', () => {
    const clock = new ManualClock();
    const { guard, confirmations } = guardOn(clock);
    guard.update('tiny', 2, 2);
    expect(guard.disrupted('tiny')).toBe(false);
    expect(guard.gate(suspect(1), 'tiny', clock.now())).toEqual({ verdict: 'judge' });
    guard.update('tiny', 3, 3);
    expect(guard.gate(suspect(1), 'tiny', clock.now()).verdict).toBe('hold');
    expect(confirmations).toHaveLength(1);
  });

  it('while the monitor itself is degraded, holds every verdict but still judges confirmed failures', () => {
    const clock = new ManualClock();
    const monitor = { degraded: true };
    const { guard, confirmations } = guardOn(clock, { monitor });
    guard.update('zed', 200, 0);
    guard.update('aws', 200, 0);
    expect(guard.gate(suspect(1), 'zed', clock.now()).verdict).toBe('hold');
    expect(guard.gate(suspect(2), 'zed', clock.now()).verdict).toBe('hold');
    guard.confirmed('assembly-1', 'failed');
    guard.confirmed('assembly-2', 'unknown');
    expect(recheck(clock, guard, 'zed', 1, 3, 600_000)).toEqual(new Map([['assembly-1', clock.now() - 600_000]]));
    expect(confirmations).toHaveLength(2);
    monitor.degraded = false;
    expect(guard.gate(suspect(2), 'zed', clock.now())).toEqual({ verdict: 'judge' });
  });

  it('takes the self-lag guard as the monitor whose health it heeds', () => {
    const clock = new ManualClock();
    const selfLag = new SelfLagGuard({ clock, onChange: () => undefined });
    const { guard } = guardOn(clock, { monitor: selfLag });
    guard.update('zed', 200, 0);
    expect(guard.gate(suspect(1), 'zed', clock.now()).verdict).toBe('judge');
    selfLag.queueDepth(50_000);
    expect(guard.gate(suspect(1), 'zed', clock.now()).verdict).toBe('hold');
  });

  it('lists its groups and forgets those left without members', () => {
    const clock = new ManualClock();
    const { guard } = guardOn(clock);
    guard.update('zed/az-1', 100, 60);
    guard.update('aws/eu-west-1a', 10, 1);
    guard.update('old', 5, 0);
    guard.update('old', 0, 0);
    expect(guard.groups()).toEqual([
      { group: 'zed/az-1', disrupted: true, silent: 60, expected: 100 },
      { group: 'aws/eu-west-1a', disrupted: false, silent: 1, expected: 10 },
    ]);
  });
});
