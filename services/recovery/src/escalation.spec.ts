import { describe, expect, it } from 'vitest';
import type { InstanceHealth } from '@defib/clouds';
import { ladderStepsTried, nextStep, type EscalationPolicy, type Observation, type PastStep, type VmCondition } from './escalation.ts';

const now = Date.UTC(2026, 0, 1, 12);
const second = 1_000;
const minute = 60 * second;

/** The manifest's defaults: 3 restarts in 5m, 3 recoveries in 15m over the whole ladder, 2 deployable restarts in 30m. */
const policy: EscalationPolicy = {
  resource: { maxRestarts: 3, windowMs: 5 * minute },
  assembly: { maxRecoveries: 3, windowMs: 15 * minute, ladder: ['reboot', 'hard-reboot', 'recreate'] },
  deployable: { maxFailures: 2, windowMs: 30 * minute },
};

const running: VmCondition = { state: 'running' };
const healthy: InstanceHealth = { instance: 'ok', system: 'ok', details: [] };
const hostFailed: InstanceHealth = { instance: 'ok', system: 'impaired', details: ['reachability'] };

/** A step of incident `inc-1` on assembly `asm-1` (and resource `res-1` for restarts), started a minute ago, that failed — unless told otherwise. */
function step(kind: PastStep['kind'], overrides: Partial<PastStep> = {}): PastStep {
  return {
    kind,
    outcome: 'failed',
    at: now - minute,
    incidentId: 'inc-1',
    assemblyId: 'asm-1',
    ...(kind === 'restart-resource' ? { resourceId: 'res-1' } : {}),
    ...overrides,
  };
}

/** `count` steps of a kind, a second apart, the latest a minute ago. */
function steps(kind: PastStep['kind'], count: number, overrides: Partial<PastStep> = {}): PastStep[] {
  return Array.from({ length: count }, (_, index) => step(kind, { at: now - minute - index * second, ...overrides }));
}

/** Incident `inc-1` about assembly `asm-1`, opened ten seconds ago unless told otherwise; `failure` undefined when the monitor could not tell. */
function assemblyFailed(failure: Observation['failure'], vm: VmCondition = running, openedAt = now - 10 * second): Observation {
  return { incident: { id: 'inc-1', level: 'assembly', openedAt, assemblyId: 'asm-1' }, ...(failure === undefined ? {} : { failure }), vm };
}

/** Incident `inc-1` about resource `res-1` of assembly `asm-1`, opened ten seconds ago. */
function resourceFailed(vm: VmCondition = running): Observation {
  return { incident: { id: 'inc-1', level: 'resource', openedAt: now - 10 * second, assemblyId: 'asm-1', resourceId: 'res-1' }, failure: 'resource-failed', vm };
}

/** Incident `inc-1` about the deployable itself. */
function deployableFailed(): Observation {
  return { incident: { id: 'inc-1', level: 'deployable', openedAt: now - 10 * second }, vm: { state: 'unknown' } };
}

function withLadder(ladder: EscalationPolicy['assembly']['ladder']): EscalationPolicy {
  return { ...policy, assembly: { ...policy.assembly, ladder } };
}

describe('escalation', () => {
  describe('a resource incident', () => {
    it('restarts the resource first', () => {
      expect(nextStep(policy, [], resourceFailed(), now)).toEqual({ do: 'restart-resource', attempt: 1, reason: expect.stringContaining('res-1') as unknown });
    });

    it('numbers the restarts of this incident', () => {
      expect(nextStep(policy, steps('restart-resource', 2), resourceFailed(), now)).toMatchObject({ do: 'restart-resource', attempt: 3 });
    });

    it("counts the resource's restarts in earlier incidents against its budget, not its attempts", () => {
      const earlier = steps('restart-resource', 2, { incidentId: 'inc-0', outcome: 'succeeded' });
      expect(nextStep(policy, earlier, resourceFailed(), now)).toMatchObject({ do: 'restart-resource', attempt: 1 });
      expect(nextStep(policy, [...earlier, step('restart-resource', { incidentId: 'inc-0' })], resourceFailed(), now)).toMatchObject({ do: 'reboot' });
    });

    it('escalates to the assembly ladder after maxRestarts restarts within the window, and says why', () => {
      const next = nextStep(policy, steps('restart-resource', 3), resourceFailed(), now);
      expect(next).toMatchObject({ do: 'reboot', action: 'reboot-soft', attempt: 1, skipped: [] });
      expect(next.reason).toMatch(/^3 restarts of resource res-1 within 5m: the assembly is recovered/);
    });

    it('no longer counts a restart started exactly the window ago', () => {
      const history = [...steps('restart-resource', 2), step('restart-resource', { at: now - 5 * minute })];
      expect(nextStep(policy, history, resourceFailed(), now)).toMatchObject({ do: 'restart-resource' });
      history[2] = step('restart-resource', { at: now - 5 * minute + 1 });
      expect(nextStep(policy, history, resourceFailed(), now)).toMatchObject({ do: 'reboot' });
    });

    it("does not count another resource's restarts", () => {
      expect(nextStep(policy, steps('restart-resource', 3, { resourceId: 'res-2', incidentId: 'inc-2' }), resourceFailed(), now)).toMatchObject({ do: 'restart-resource', attempt: 1 });
    });

    it('does not count skipped restarts, against the budget or in the attempts', () => {
      expect(nextStep(policy, steps('restart-resource', 3, { outcome: 'skipped' }), resourceFailed(), now)).toMatchObject({ do: 'restart-resource', attempt: 1 });
    });

    it('counts a restart still under way like a taken one', () => {
      const history = [...steps('restart-resource', 2), step('restart-resource', { outcome: 'under-way', at: now - second })];
      expect(nextStep(policy, history, resourceFailed(), now)).toMatchObject({ do: 'reboot' });
    });

    it('skips the restart when the VM is not running and recovers the assembly instead', () => {
      const next = nextStep(policy, [], resourceFailed({ state: 'stopped' }), now);
      expect(next).toMatchObject({ do: 'reboot', action: 'start', skipped: [{ step: 'restart-resource', reason: 'the VM is stopped' }] });
      expect(next.reason).toContain('cannot be restarted while the VM is stopped');
    });

    it('restarts the resource when the cloud could not be asked about the VM', () => {
      expect(nextStep(policy, [], resourceFailed({ state: 'unknown' }), now)).toMatchObject({ do: 'restart-resource' });
    });

    it('recovers the assembly when the resource has no restart budget', () => {
      const { resource: _, ...withoutResource } = policy;
      expect(nextStep(withoutResource, [], resourceFailed(), now)).toMatchObject({ do: 'reboot', action: 'reboot-soft' });
    });

    it('goes from the skipped restart to recreate when the VM is gone, listing every skipped rung', () => {
      expect(nextStep(policy, [], resourceFailed({ state: 'gone' }), now)).toMatchObject({
        do: 'recreate',
        skipped: [
          { step: 'restart-resource', reason: 'the VM is gone' },
          { step: 'reboot', reason: expect.stringContaining('the VM is gone') as unknown },
          { step: 'hard-reboot', reason: expect.stringContaining('the VM is gone') as unknown },
        ],
      });
    });
  });

  describe('the assembly ladder', () => {
    it('reboots a crashed VM softly first', () => {
      expect(nextStep(policy, [], assemblyFailed('crashed'), now)).toEqual({ do: 'reboot', action: 'reboot-soft', attempt: 1, reason: 'rebooting the VM', skipped: [] });
    });

    it('does not repeat a failed rung: the next one is tried', () => {
      expect(nextStep(policy, [step('reboot')], assemblyFailed('crashed'), now)).toMatchObject({ do: 'hard-reboot', action: 'reboot-hard', attempt: 1 });
    });

    it('counts a rung that succeeded before a new failure in the same incident as taken', () => {
      expect(nextStep(policy, [step('reboot', { outcome: 'succeeded' })], assemblyFailed('crashed'), now)).toMatchObject({ do: 'hard-reboot' });
    });

    it('does not reconsider a rung skipped earlier in the incident', () => {
      expect(nextStep(policy, [step('reboot', { outcome: 'skipped' })], assemblyFailed('crashed'), now)).toMatchObject({ do: 'hard-reboot', skipped: [] });
    });

    it('starts the ladder again in a new incident, within the budget', () => {
      const earlier = [step('reboot', { incidentId: 'inc-0', outcome: 'succeeded' }), step('hard-reboot', { incidentId: 'inc-0', outcome: 'succeeded' })];
      expect(nextStep(policy, earlier, assemblyFailed('crashed'), now)).toMatchObject({ do: 'reboot', attempt: 1 });
    });

    it("climbs the manifest's ladder in its order", () => {
      const ladder = withLadder(['recreate', 'reboot']);
      expect(nextStep(ladder, [], assemblyFailed('crashed'), now)).toMatchObject({ do: 'recreate', attempt: 1, skipped: [] });
      expect(nextStep(ladder, [step('recreate')], assemblyFailed('crashed'), now)).toMatchObject({ do: 'reboot' });
    });

    it('tries the last rung again once every rung was tried, while the assembly has recoveries left', () => {
      const history = [step('reboot'), step('hard-reboot'), step('recreate', { incidentId: 'inc-1' })];
      const next = nextStep({ ...policy, assembly: { ...policy.assembly, maxRecoveries: 5 } }, history, assemblyFailed('crashed'), now);
      expect(next).toMatchObject({ do: 'recreate', attempt: 2, skipped: [] });
      expect(next.reason).toContain('trying the last rung again (4 of at most 5 recoveries within 15m)');
    });

    it('restarts the deployable when every rung was tried and the last one cannot help', () => {
      const history = [step('reboot')];
      const next = nextStep({ ...policy, assembly: { ...policy.assembly, maxRecoveries: 5, ladder: ['reboot'] } }, history, assemblyFailed('crashed', { state: 'gone' }), now);
      expect(next).toMatchObject({ do: 'restart-deployable', attempt: 1 });
      expect(next.reason).toContain('every rung of the ladder (reboot) was tried in this incident and the last cannot help');
    });

    it('never goes back down the ladder once the incident restarted the deployable', () => {
      const history = [step('reboot'), step('hard-reboot'), step('recreate'), step('restart-deployable')];
      expect(nextStep({ ...policy, assembly: { ...policy.assembly, maxRecoveries: 5 } }, history, assemblyFailed('crashed'), now)).toMatchObject({ do: 'restart-deployable', attempt: 2 });
    });

    it("restarts the deployable once the assembly's recoveries in any incident reach maxRecoveries within the window", () => {
      const history = [step('reboot', { incidentId: 'inc-0' }), step('hard-reboot', { incidentId: 'inc-0' }), step('recreate', { incidentId: 'inc-0', outcome: 'succeeded' })];
      const next = nextStep(policy, history, assemblyFailed('crashed'), now);
      expect(next).toMatchObject({ do: 'restart-deployable', attempt: 1 });
      expect(next.reason).toMatch(/^3 recoveries of assembly asm-1 within 15m: escalated to the deployable/);
    });

    it('no longer counts a recovery started exactly the assembly window ago', () => {
      const history = [step('reboot', { incidentId: 'inc-0' }), step('hard-reboot', { incidentId: 'inc-0' }), step('recreate', { incidentId: 'inc-0', at: now - 15 * minute })];
      expect(nextStep(policy, history, assemblyFailed('crashed'), now)).toMatchObject({ do: 'reboot' });
      history[2] = step('recreate', { incidentId: 'inc-0', at: now - 15 * minute + 1 });
      expect(nextStep(policy, history, assemblyFailed('crashed'), now)).toMatchObject({ do: 'restart-deployable' });
    });

    it('does not count skipped rungs against the assembly budget', () => {
      const history = steps('reboot', 3, { incidentId: 'inc-0', outcome: 'skipped' });
      expect(nextStep(policy, history, assemblyFailed('crashed'), now)).toMatchObject({ do: 'reboot' });
    });

    it("does not count another assembly's recoveries", () => {
      const history = [step('reboot', { assemblyId: 'asm-2', incidentId: 'inc-2' }), step('hard-reboot', { assemblyId: 'asm-2', incidentId: 'inc-2' }), step('recreate', { assemblyId: 'asm-2', incidentId: 'inc-2' })];
      expect(nextStep(policy, history, assemblyFailed('crashed'), now)).toMatchObject({ do: 'reboot' });
    });

    it('counts a rung still under way as taken and against the budget', () => {
      const underWay = step('reboot', { outcome: 'under-way', at: now - second });
      expect(nextStep(policy, [underWay], assemblyFailed('crashed'), now)).toMatchObject({ do: 'hard-reboot' });
      const tight = { ...policy, assembly: { ...policy.assembly, maxRecoveries: 1 } };
      expect(nextStep(tight, [{ ...underWay, incidentId: 'inc-0' }], assemblyFailed('crashed'), now)).toMatchObject({ do: 'restart-deployable' });
    });

    it('treats a ladder whose every remaining rung was skipped as exhausted, carrying the skipped rungs', () => {
      const next = nextStep(withLadder(['reboot', 'hard-reboot']), [], assemblyFailed('crashed', { state: 'gone' }), now);
      expect(next).toMatchObject({ do: 'restart-deployable', attempt: 1, skipped: [{ step: 'reboot' }, { step: 'hard-reboot' }] });
      expect(next.reason).toContain('no rung left of the ladder (reboot, hard-reboot) can help');
    });
  });

  describe("a rung maps to what the VM's condition allows", () => {
    it.each(['pending', 'rebooting', 'stopping'] as const)('waits a second while the cloud is already changing a %s VM', (state) => {
      expect(nextStep(policy, [], assemblyFailed('crashed', { state }), now)).toEqual({ do: 'wait', until: now + second, reason: `the VM is ${state}: the cloud is already changing it` });
    });

    it('treats a VM still changing more than settleMs after the incident opened as in error', () => {
      expect(nextStep(policy, [], assemblyFailed('crashed', { state: 'rebooting' }, now - minute), now)).toMatchObject({ do: 'wait' });
      const next = nextStep(policy, [], assemblyFailed('crashed', { state: 'rebooting' }, now - minute - 1), now);
      expect(next).toMatchObject({ do: 'reboot', action: 'reboot-hard' });
      expect(next.reason).toContain('counts as in error');
    });

    it('takes settleMs from the options', () => {
      expect(nextStep(policy, [], assemblyFailed('crashed', { state: 'pending' }), now, { settleMs: 5 * second })).toMatchObject({ do: 'reboot', action: 'reboot-hard' });
    });

    it('does not wait for a changing VM once the ladder is exhausted in this incident', () => {
      const history = [step('reboot'), step('hard-reboot'), step('recreate')];
      const roomy = { ...policy, assembly: { ...policy.assembly, maxRecoveries: 5 } };
      expect(nextStep(roomy, history, assemblyFailed('crashed', { state: 'rebooting' }), now)).toMatchObject({ do: 'recreate', attempt: 2 });
    });

    it.each(['gone', 'terminated', 'terminating'] as const)('skips both reboots of a %s VM and recreates it', (state) => {
      expect(nextStep(policy, [], assemblyFailed('crashed', { state }), now)).toMatchObject({
        do: 'recreate',
        attempt: 1,
        skipped: [
          { step: 'reboot', reason: `the VM is ${state}: only a new VM helps` },
          { step: 'hard-reboot', reason: `the VM is ${state}: only a new VM helps` },
        ],
      });
    });

    it('skips both reboots when its host failed, and says why it recreates', () => {
      const next = nextStep(policy, [], assemblyFailed('hung', { state: 'running', health: hostFailed }), now);
      expect(next).toMatchObject({ do: 'recreate', skipped: [{ step: 'reboot' }, { step: 'hard-reboot' }] });
      expect(next.reason).toBe('its host failed: only a new VM on another host helps; recreating the VM (the old one fenced first)');
    });

    it('starts a stopped VM for either reboot', () => {
      expect(nextStep(policy, [], assemblyFailed('crashed', { state: 'stopped' }), now)).toMatchObject({ do: 'reboot', action: 'start' });
      expect(nextStep(policy, [step('reboot')], assemblyFailed('crashed', { state: 'stopped' }), now)).toMatchObject({ do: 'hard-reboot', action: 'start' });
    });

    it('reboots a VM in error hard for either reboot', () => {
      expect(nextStep(policy, [], assemblyFailed('crashed', { state: 'error' }), now)).toMatchObject({ do: 'reboot', action: 'reboot-hard', skipped: [] });
      expect(nextStep(policy, [step('reboot')], assemblyFailed('crashed', { state: 'error' }), now)).toMatchObject({ do: 'hard-reboot', action: 'reboot-hard' });
    });

    it('skips the soft reboot of a hung guest and reboots it hard', () => {
      const impaired: InstanceHealth = { instance: 'impaired', system: 'ok', details: ['reachability'] };
      expect(nextStep(policy, [], assemblyFailed('hung', { state: 'running', health: impaired }), now)).toMatchObject({
        do: 'hard-reboot',
        action: 'reboot-hard',
        skipped: [{ step: 'reboot', reason: 'a hung guest does not answer a soft reboot' }],
      });
    });

    it('recreates a running VM whose guest answers its host while its agent is silent', () => {
      const next = nextStep(policy, [], assemblyFailed('hung-or-partitioned', { state: 'running', health: healthy }), now);
      expect(next).toMatchObject({ do: 'recreate', skipped: [{ step: 'reboot' }, { step: 'hard-reboot' }] });
      expect(next.reason).toContain('a reboot does not reconnect it');
    });

    it('walks the ladder normally for a silent VM on a cloud without health checks', () => {
      expect(nextStep(policy, [], assemblyFailed('hung-or-partitioned', { state: 'running' }), now)).toMatchObject({ do: 'reboot', action: 'reboot-soft', skipped: [] });
    });

    it('walks the ladder normally for a silent VM whose state the cloud could not say', () => {
      expect(nextStep(policy, [], assemblyFailed('hung-or-partitioned', { state: 'unknown', health: healthy }), now)).toMatchObject({ do: 'reboot', action: 'reboot-soft' });
    });

    it('skips the soft reboot of a VM that never booted and reboots it hard', () => {
      expect(nextStep(policy, [], assemblyFailed('boot-failed', { state: 'running' }), now)).toMatchObject({
        do: 'hard-reboot',
        action: 'reboot-hard',
        skipped: [{ step: 'reboot', reason: 'it never booted: a soft reboot needs a running guest' }],
      });
    });

    it.each(['running', 'unknown', 'other'] as const)('reboots a %s VM softly, then hard', (state) => {
      expect(nextStep(policy, [], assemblyFailed(undefined, { state }), now)).toMatchObject({ do: 'reboot', action: 'reboot-soft' });
      expect(nextStep(policy, [step('reboot')], assemblyFailed(undefined, { state }), now)).toMatchObject({ do: 'hard-reboot', action: 'reboot-hard' });
    });

    it('never skips recreate, whatever the VM', () => {
      const recreateOnly = withLadder(['recreate']);
      expect(nextStep(recreateOnly, [], assemblyFailed('crashed', { state: 'gone' }), now)).toMatchObject({ do: 'recreate', skipped: [] });
      expect(nextStep(recreateOnly, [], assemblyFailed('hung', { state: 'running', health: hostFailed }), now)).toMatchObject({ do: 'recreate', skipped: [] });
    });
  });

  describe('the deployable', () => {
    it('restarts the deployable straight away for a deployable incident', () => {
      expect(nextStep(policy, [], deployableFailed(), now)).toEqual({ do: 'restart-deployable', attempt: 1, reason: 'restarting the deployable (1 of at most 2 restarts within 30m)', skipped: [] });
    });

    it('numbers the deployable restarts of this incident', () => {
      expect(nextStep(policy, [step('restart-deployable')], deployableFailed(), now)).toMatchObject({ do: 'restart-deployable', attempt: 2 });
    });

    it('gives up after maxFailures restarts within the window, listing the steps this incident took in order', () => {
      const history = [
        step('restart-deployable', { incidentId: 'inc-0', at: now - 20 * minute }),
        step('hard-reboot', { at: now - 3 * minute }),
        step('reboot', { at: now - 4 * minute }),
        step('recreate', { at: now - 2 * minute, outcome: 'skipped' }),
        step('restart-deployable', { at: now - minute }),
      ];
      const next = nextStep(policy, history, assemblyFailed('crashed'), now);
      expect(next).toMatchObject({ do: 'give-up', stepsTried: ['reboot', 'hard-reboot', 'restart-deployable'] });
      expect(next.reason).toMatch(/; 2 restarts of the deployable within 30m: giving up$/);
    });

    it('no longer counts a deployable restart started exactly the window ago', () => {
      const history = [step('restart-deployable', { incidentId: 'inc-0', at: now - 30 * minute }), step('restart-deployable', { incidentId: 'inc-0' })];
      expect(nextStep(policy, history, deployableFailed(), now)).toMatchObject({ do: 'restart-deployable', attempt: 1 });
      history[0] = step('restart-deployable', { incidentId: 'inc-0', at: now - 30 * minute + 1 });
      expect(nextStep(policy, history, deployableFailed(), now)).toMatchObject({ do: 'give-up' });
    });

    it('does not count skipped deployable restarts', () => {
      expect(nextStep(policy, steps('restart-deployable', 2, { outcome: 'skipped' }), deployableFailed(), now)).toMatchObject({ do: 'restart-deployable', attempt: 1 });
    });

    it('explains a give-up reached from a resource through every spent budget', () => {
      const history = [...steps('restart-resource', 3), step('reboot'), step('hard-reboot'), step('recreate'), ...steps('restart-deployable', 2, { incidentId: 'inc-0' })];
      const next = nextStep(policy, history, resourceFailed(), now);
      expect(next).toMatchObject({ do: 'give-up', stepsTried: ['restart-resource', 'restart-resource', 'restart-resource', 'reboot', 'hard-reboot', 'recreate'] });
      expect(next.reason).toBe(
        '3 restarts of resource res-1 within 5m: the assembly is recovered; 3 recoveries of assembly asm-1 within 15m: escalated to the deployable; 2 restarts of the deployable within 30m: giving up',
      );
    });
  });

  describe('ladderStepsTried', () => {
    it("lists this incident's taken steps in the order they started, skipped ones left out", () => {
      const history = [step('hard-reboot', { at: now - 2 * minute }), step('reboot', { at: now - 3 * minute, outcome: 'skipped' }), step('restart-resource', { at: now - 4 * minute }), step('recreate', { incidentId: 'inc-0' })];
      expect(ladderStepsTried(history, 'inc-1')).toEqual(['restart-resource', 'hard-reboot']);
    });
  });

  it('is deterministic and leaves its inputs as they were', () => {
    const history = Object.freeze([step('reboot'), ...steps('restart-resource', 3)].map((past) => Object.freeze(past)));
    const observation = resourceFailed({ state: 'stopped' });
    const before = structuredClone({ policy, history, observation });
    const first = nextStep(policy, history, observation, now);
    expect(nextStep(policy, history, observation, now)).toEqual(first);
    expect({ policy, history, observation }).toEqual(before);
  });
});
