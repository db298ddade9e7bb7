import { describe, expect, it } from 'vitest';
import type { InstanceHealth } from '@defib/clouds';
import { classify, describeSilence, type CloudVerdict } from './failure-classification.ts';
import type { AssemblyLiveness, CloudView, LivenessState, WatchSpec } from './watch.ts';

const t0 = Date.UTC(2026, 0, 1);
const intervalMs = 1_000;

const spec: WatchSpec = {
  assemblyId: 'asm-1',
  assembly: 'web-1',
  deployableId: 'dep-1',
  deployable: 'web',
  cloud: 'east',
  intervalMs,
  missed: 3,
  resources: [],
};

/** An assembly whose latest beat came at t0 from boot `b1` of `srv-1`, unless told otherwise. */
function liveness(state: LivenessState, overrides: Partial<AssemblyLiveness> = {}): AssemblyLiveness {
  return {
    spec,
    state,
    stateSince: t0,
    instanceId: 'srv-1',
    bootId: 'b1',
    sequence: 7,
    lastBeatAt: t0,
    launchedAt: t0 - 60_000,
    addresses: [],
    resources: {},
    dueAt: t0 + 3 * intervalMs,
    staleBeats: 0,
    ...overrides,
  };
}

const healthy: InstanceHealth = { instance: 'ok', system: 'ok', details: [] };
const instanceImpaired: InstanceHealth = { instance: 'impaired', system: 'ok', details: ['reachability'] };
const systemImpaired: InstanceHealth = { instance: 'ok', system: 'impaired', details: ['reachability'] };

/** The cloud's view of `srv-1`, observed (and first seen so) half a second after the latest beat, unless told otherwise. */
function view(state: CloudView['state'], cloudStatus: string, overrides: Partial<CloudView> = {}): CloudView {
  return {
    cloud: 'east',
    instanceId: 'srv-1',
    state,
    cloudStatus,
    health: undefined,
    addresses: [],
    zone: 'az-1',
    hostId: undefined,
    observedAt: t0 + 500,
    stateSince: t0 + 500,
    ...overrides,
  };
}

const none: CloudVerdict = { kind: 'none' };
const crashed = (cloudStatus: string): CloudVerdict => ({ kind: 'failed', failure: 'crashed', cloudStatus });
const bootFailed = (cloudStatus: string): CloudVerdict => ({ kind: 'failed', failure: 'boot-failed', cloudStatus });
const hung = (cloudStatus: string): CloudVerdict => ({ kind: 'failed', failure: 'hung', cloudStatus });
const disputed = (cloudStatus: string): CloudVerdict => ({ kind: 'disputed', cloudStatus });

const now = t0 + 5_000;

describe('failure classification', () => {
  describe('a VM the cloud says is down', () => {
    const downViews = [view('stopped', 'SHUTOFF'), view('error', 'ERROR'), view('terminated', 'terminated'), view('gone', 'gone')];

    it.each(downViews.map((down) => [down.cloudStatus, down] as const))('is crashed when %s and the beats are late or silent', (_status, down) => {
      expect(classify(liveness('suspect'), down, now)).toEqual(crashed(down.cloudStatus));
      expect(classify(liveness('unresponsive'), down, now)).toEqual(crashed(down.cloudStatus));
    });

    it.each(downViews.map((down) => [down.cloudStatus, down] as const))('failed to boot when %s before its first beat', (_status, down) => {
      const launched = liveness('booting', { lastBeatAt: undefined, bootId: undefined, sequence: undefined });
      expect(classify(launched, down, now)).toEqual(bootFailed(down.cloudStatus));
    });

    it('failed to boot when silent without ever beating', () => {
      expect(classify(liveness('unresponsive', { lastBeatAt: undefined, bootId: undefined }), view('error', 'ERROR'), now)).toEqual(bootFailed('ERROR'));
    });

    it('crashed when it beat before and is booting again (the monitor restarted)', () => {
      expect(classify(liveness('booting'), view('stopped', 'SHUTOFF'), now)).toEqual(crashed('SHUTOFF'));
    });

    it('waits while beats arrive: it may have crashed just after its latest beat, and the detector will find it late', () => {
      expect(classify(liveness('alive'), view('stopped', 'SHUTOFF'), now)).toEqual(none);
    });

    it('is disputed when beats kept arriving after the cloud first said it was down, and the cloud still says so', () => {
      const stillStopped = view('stopped', 'SHUTOFF', { stateSince: t0 - 10_000, observedAt: t0 + 500 });
      expect(classify(liveness('alive'), stillStopped, now)).toEqual(disputed('SHUTOFF'));
      expect(classify(liveness('suspect'), stillStopped, now)).toEqual(disputed('SHUTOFF'));
      expect(classify(liveness('alive'), view('gone', 'gone', { stateSince: t0 - 10_000 }), now)).toEqual(disputed('gone'));
    });

    it('does not count a beat delivered within one interval of the stop as a dispute', () => {
      const justStopped = view('stopped', 'SHUTOFF', { stateSince: t0 - intervalMs, observedAt: t0 + 500 });
      expect(classify(liveness('alive'), justStopped, now)).toEqual(none);
    });

    it('is crashed once the beats that disputed it stopped as well', () => {
      expect(classify(liveness('unresponsive'), view('stopped', 'SHUTOFF', { stateSince: t0 - 10_000 }), now)).toEqual(crashed('SHUTOFF'));
    });

    it('ignores a stop the cloud reported before the latest beat: the VM may have been started again', () => {
      const stale = view('stopped', 'SHUTOFF', { observedAt: t0 - 200, stateSince: t0 - 200 });
      for (const state of ['booting', 'alive', 'suspect', 'unresponsive'] as const) expect(classify(liveness(state), stale, now)).toEqual(none);
    });
  });

  describe('a VM on the way down', () => {
    it.each([
      ['stopping', 'stopping'],
      ['terminating', 'shutting-down'],
    ] as const)('is not judged while %s', (state, cloudStatus) => {
      for (const beats of ['booting', 'alive', 'suspect', 'unresponsive'] as const) expect(classify(liveness(beats), view(state, cloudStatus), now)).toEqual(none);
    });
  });

  describe('a VM the cloud says runs', () => {
    it.each([
      ['its own check', instanceImpaired],
      ['its host check', systemImpaired],
    ] as const)('is hung when silent and EC2 says %s is impaired', (_check, health) => {
      const impaired = view('running', 'running/impaired', { health });
      expect(classify(liveness('suspect'), impaired, now)).toEqual(hung('running/impaired'));
      expect(classify(liveness('unresponsive'), impaired, now)).toEqual(hung('running/impaired'));
    });

    it('is not hung while beats arrive or it still boots, whatever EC2 says', () => {
      const impaired = view('running', 'running/impaired', { health: instanceImpaired });
      expect(classify(liveness('alive'), impaired, now)).toEqual(none);
      expect(classify(liveness('booting', { lastBeatAt: undefined, bootId: undefined }), impaired, now)).toEqual(none);
    });

    it('ignores an impairment reported before the latest beat', () => {
      expect(classify(liveness('unresponsive'), view('running', 'running/impaired', { health: instanceImpaired, observedAt: t0 - 1 }), now)).toEqual(none);
    });

    it.each([
      ['healthy (EC2)', healthy],
      ['without health checks (OpenStack)', undefined],
    ] as const)('leaves silence to the detector when it runs %s', (_how, health) => {
      for (const state of ['booting', 'alive', 'suspect', 'unresponsive'] as const) expect(classify(liveness(state), view('running', 'ACTIVE', { health }), now)).toEqual(none);
    });
  });

  describe('what is not judged', () => {
    it.each([
      ['pending', 'BUILD'],
      ['rebooting', 'HARD_REBOOT'],
      ['other', 'PAUSED'],
    ] as const)('a VM the cloud says is %s', (state, cloudStatus) => {
      expect(classify(liveness('unresponsive'), view(state, cloudStatus), now)).toEqual(none);
    });

    it.each(['idle', 'failed'] as const)('an assembly whose VM should not run (%s)', (state) => {
      expect(classify(liveness(state), view('stopped', 'SHUTOFF'), now)).toEqual(none);
    });

    it('a view of another VM than the current one (an old, fenced VM)', () => {
      expect(classify(liveness('unresponsive'), view('terminated', 'terminated', { instanceId: 'srv-0' }), now)).toEqual(none);
    });

    it('an assembly without a VM, or a VM without a view', () => {
      expect(classify(liveness('booting', { instanceId: undefined }), view('error', 'ERROR'), now)).toEqual(none);
      expect(classify(liveness('unresponsive'), undefined, now)).toEqual(none);
    });
  });

  describe('the silence verdict', () => {
    it.each([
      ['running and healthy', view('running', 'running/ok', { health: healthy }), 'hung-or-partitioned'],
      ['running without health checks', view('running', 'ACTIVE'), 'hung-or-partitioned'],
      ['running, instance check impaired', view('running', 'running/impaired', { health: instanceImpaired }), 'hung'],
      ['running, system check impaired', view('running', 'running/impaired', { health: systemImpaired }), 'hung'],
      ['stopped', view('stopped', 'SHUTOFF'), 'crashed'],
      ['in error', view('error', 'ERROR'), 'crashed'],
      ['terminated', view('terminated', 'terminated'), 'crashed'],
      ['gone', view('gone', 'gone'), 'crashed'],
      ['stopping', view('stopping', 'stopping'), undefined],
      ['rebooting', view('rebooting', 'REBOOT'), undefined],
      ['paused', view('other', 'PAUSED'), undefined],
    ] as const)('of a VM the cloud says is %s', (_how, cloudView, failure) => {
      expect(describeSilence(cloudView)).toEqual({ failure, cloudStatus: cloudView.cloudStatus });
    });

    it('is a boot failure for a VM that never beat and is down', () => {
      expect(describeSilence(view('error', 'ERROR'), true)).toEqual({ failure: 'boot-failed', cloudStatus: 'ERROR' });
      expect(describeSilence(view('running', 'ACTIVE'), true)).toEqual({ failure: 'hung-or-partitioned', cloudStatus: 'ACTIVE' });
    });

    it('says nothing without a view', () => {
      expect(describeSilence(undefined)).toEqual({ failure: undefined, cloudStatus: undefined });
    });
  });
});
