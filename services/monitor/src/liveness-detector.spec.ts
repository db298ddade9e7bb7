import { describe, expect, it } from 'vitest';
import type { Address, Heartbeat, ResourceStatus } from '@defib/contracts';
import { SeededRandom, TimerWheel } from '@defib/platform';
import { ManualClock } from '@defib/platform/testing';
import { LivenessDetector } from './liveness-detector.ts';
import type { HeartbeatOutcome } from './liveness-detector.ts';
import type { LivenessObservation, VerdictGate, WatchSpec } from './watch.ts';

const start = Date.UTC(2025, 0, 1);
const intervalMs = 1_000;
const missed = 3;
const timeoutMs = missed * intervalMs;
const bootGraceMs = 30_000;
const tickMs = 10;
const judge: VerdictGate = () => ({ verdict: 'judge' });

function aSpec(assemblyId = 'a1', overrides: Partial<WatchSpec> = {}): WatchSpec {
  return {
    assemblyId,
    assembly: 'db',
    deployableId: 'd1',
    deployable: 'wordpress',
    cloud: 'sim-openstack',
    intervalMs,
    missed,
    resources: [{ id: 'resource-mysqld', name: 'mysqld' }],
    ...overrides,
  };
}

function fixed(address: string, network?: string): Address {
  return network === undefined ? { address, type: 'fixed', version: 4 } : { address, type: 'fixed', version: 4, network };
}

function aHeartbeat(overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    kind: 'heartbeat',
    protocol: 1,
    assemblyId: 'a1',
    deployableId: 'd1',
    instanceId: 'i-1',
    bootId: 'boot-1',
    sequence: 1,
    sentAt: start,
    intervalMs,
    addresses: [fixed('10.0.0.5')],
    resources: [],
    mac: 'A'.repeat(43),
    ...overrides,
  };
}

type Kind = LivenessObservation['kind'];
type ObservationOf<K extends Kind> = Extract<LivenessObservation, { kind: K }>;

/** A detector on a manual clock and a 10 ms wheel, recording what it observes and when. */
function aMonitor(options: { gate?: VerdictGate } = {}) {
  const clock = new ManualClock(start);
  const wheel = new TimerWheel(clock, { tickMs });
  const observed: { at: number; observation: LivenessObservation }[] = [];
  const detector = new LivenessDetector({
    clock,
    wheel,
    bootGraceMs,
    gate: options.gate ?? judge,
    onObservation: (observation) => observed.push({ at: clock.now(), observation }),
  });
  function ofKind<K extends Kind>(kind: K): { at: number; observation: ObservationOf<K> }[] {
    return observed.filter((entry): entry is { at: number; observation: ObservationOf<K> } => entry.observation.kind === kind);
  }
  return { clock, wheel, detector, observed, ofKind, verdicts: () => ofKind('unresponsive') };
}
type Monitor = ReturnType<typeof aMonitor>;

/** An in-guest agent: beats with increasing sequence numbers, received now. */
class Agent {
  sequence = 0;
  addresses: Address[] = [fixed('10.0.0.5')];
  resources: ResourceStatus[] = [];
  readonly monitor: Monitor;
  readonly assemblyId: string;
  readonly instanceId: string;
  bootId: string;

  constructor(monitor: Monitor, assemblyId = 'a1', instanceId = 'i-1', bootId = 'boot-1') {
    this.monitor = monitor;
    this.assemblyId = assemblyId;
    this.instanceId = instanceId;
    this.bootId = bootId;
  }

  beat(overrides: Partial<Heartbeat> = {}): HeartbeatOutcome {
    this.sequence++;
    const beat = aHeartbeat({
      assemblyId: this.assemblyId,
      instanceId: this.instanceId,
      bootId: this.bootId,
      sequence: this.sequence,
      sentAt: this.monitor.clock.now(),
      addresses: this.addresses,
      resources: this.resources,
      ...overrides,
    });
    return this.monitor.detector.heartbeat(beat, this.monitor.clock.now());
  }

  /** Beats `count` times, `everyMs` apart, the first one `everyMs` from now. */
  beatEvery(everyMs: number, count: number): void {
    for (let index = 0; index < count; index++) {
      this.monitor.clock.advance(everyMs);
      this.beat();
    }
  }

  reboot(bootId: string): void {
    this.bootId = bootId;
    this.sequence = 0;
  }
}

/** A watched assembly whose VM `i-1` was launched now and has beaten once. */
function anAliveAssembly(monitor: Monitor = aMonitor()) {
  monitor.detector.watch(aSpec(), { instanceId: 'i-1', addresses: [fixed('10.0.0.5', 'private-net')], state: 'booting' });
  const agent = new Agent(monitor);
  agent.beat();
  return { ...monitor, agent };
}

describe('liveness detector', () => {
  describe('heartbeats', () => {
    it('never fires under ±20 % jitter', () => {
      const { clock, detector, agent, verdicts } = anAliveAssembly();
      const random = new SeededRandom('jitter');
      for (let beat = 0; beat < 600; beat++) {
        clock.advance(random.int(0.8 * intervalMs, 1.2 * intervalMs));
        expect(detector.liveness('a1')?.state).toBe('alive');
        agent.beat();
      }
      expect(verdicts()).toEqual([]);
      expect(detector.counts()).toMatchObject({ alive: 1, suspect: 0, unresponsive: 0 });
    });

    it('does not fire on one lost beat: suspect for a moment, alive again, and no news', () => {
      const { clock, detector, agent, observed, verdicts } = anAliveAssembly();
      agent.beatEvery(intervalMs, 5);
      const before = observed.length;
      clock.advance(intervalMs);
      agent.sequence++; // this beat is lost
      clock.advance(intervalMs / 2 + tickMs);
      expect(detector.liveness('a1')?.state).toBe('suspect');
      clock.advance(intervalMs / 2 - tickMs);
      expect(agent.beat()).toBe('accepted');
      expect(detector.liveness('a1')?.state).toBe('alive');
      agent.beatEvery(intervalMs, 10);
      expect(verdicts()).toEqual([]);
      expect(observed.length).toBe(before);
    });

    it('fires once, within one tick of dueAt, after `missed` lost beats', () => {
      const { clock, detector, agent, verdicts } = anAliveAssembly();
      agent.beatEvery(intervalMs, 3);
      const lastBeatAt = clock.now();
      expect(detector.liveness('a1')?.dueAt).toBe(lastBeatAt + timeoutMs);
      clock.advance(timeoutMs - 1);
      expect(verdicts()).toEqual([]);
      clock.advance(tickMs + 1);
      expect(verdicts()).toHaveLength(1);
      const [verdict] = verdicts();
      expect(verdict?.at).toBeGreaterThanOrEqual(lastBeatAt + timeoutMs);
      expect(verdict?.at).toBeLessThanOrEqual(lastBeatAt + timeoutMs + tickMs);
      expect(verdict?.observation).toMatchObject({
        key: 'unresponsive:a1:i-1:boot-1:4',
        instanceId: 'i-1',
        lastBeatAt,
        missed,
        neverBeat: false,
      });
      expect(verdict?.observation.silentForMs).toBe((verdict?.at ?? 0) - lastBeatAt);
      clock.advance(60_000);
      expect(verdicts()).toHaveLength(1);
      expect(detector.liveness('a1')).toMatchObject({ state: 'unresponsive', dueAt: undefined });
    });

    it('takes sequence gaps as liveness: lost beats are normal', () => {
      const { clock, detector, agent } = anAliveAssembly();
      clock.advance(intervalMs);
      agent.sequence = 7;
      expect(agent.beat()).toBe('accepted');
      expect(detector.liveness('a1')).toMatchObject({ state: 'alive', sequence: 8, lastBeatAt: clock.now() });
    });

    it('ignores a redelivered beat: silence still counts from the original', () => {
      const { clock, detector, agent, verdicts } = anAliveAssembly();
      agent.beatEvery(intervalMs, 2);
      const lastBeatAt = clock.now();
      clock.advance(2 * intervalMs);
      expect(agent.beat({ sequence: agent.sequence })).toBe('out-of-order');
      expect(agent.beat({ sequence: 1 })).toBe('out-of-order');
      expect(detector.liveness('a1')).toMatchObject({ lastBeatAt, sequence: 3 });
      clock.advance(intervalMs + tickMs);
      expect(verdicts().map(({ observation }) => observation.lastBeatAt)).toEqual([lastBeatAt]);
    });

    it('recognises a reboot by a new bootId: running(reboot), sequence starts over, resources reset', () => {
      const { clock, detector, agent, ofKind } = anAliveAssembly();
      agent.resources = [
        { name: 'mysqld', state: 'running' },
        { name: 'cron', state: 'running' },
      ];
      agent.beatEvery(intervalMs, 9);
      agent.reboot('boot-2');
      agent.resources = [{ name: 'mysqld', state: 'starting' }];
      clock.advance(intervalMs);
      expect(agent.beat()).toBe('accepted');
      expect(ofKind('running').map(({ observation }) => [observation.after, observation.key])).toEqual([
        ['launch', 'running:a1:i-1:boot-1'],
        ['reboot', 'running:a1:i-1:boot-2'],
      ]);
      expect(detector.liveness('a1')).toMatchObject({ state: 'alive', bootId: 'boot-2', sequence: 1, resources: { mysqld: { state: 'starting' } } });
      expect(Object.keys(detector.liveness('a1')?.resources ?? {})).toEqual(['mysqld']);
    });
  });

  describe('answers to a ping', () => {
    it('count as liveness when its beats were lost: silence counts from the answer', () => {
      const { clock, detector, agent, verdicts } = anAliveAssembly();
      clock.advance(2.5 * intervalMs); // two beats lost on the way
      expect(detector.answered('a1', { instanceId: 'i-1', bootId: 'boot-1' }, clock.now())).toBe(true);
      expect(detector.liveness('a1')?.state).toBe('alive');
      clock.advance(timeoutMs - tickMs);
      expect(verdicts()).toEqual([]);
      agent.beat();
      clock.advance(timeoutMs + tickMs);
      expect(verdicts()).toHaveLength(1);
    });

    it('do not count from another VM or boot, nor once the silence was judged', () => {
      const { clock, detector, verdicts } = anAliveAssembly();
      clock.advance(2.5 * intervalMs);
      expect(detector.answered('a1', { instanceId: 'i-old', bootId: 'boot-1' }, clock.now())).toBe(false);
      expect(detector.answered('a1', { instanceId: 'i-1', bootId: 'boot-2' }, clock.now())).toBe(false);
      clock.advance(intervalMs);
      expect(verdicts()).toHaveLength(1);
      expect(detector.answered('a1', { instanceId: 'i-1', bootId: 'boot-1' }, clock.now())).toBe(false);
      expect(detector.liveness('a1')?.state).toBe('unresponsive');
    });
  });

  describe('stale instances', () => {
    it('reports a fenced VM once per boot, counts its beats and never takes them as liveness', () => {
      const monitor = aMonitor();
      const { clock, detector, ofKind, verdicts } = monitor;
      detector.watch(aSpec(), { instanceId: 'i-1', addresses: [], state: 'booting' });
      new Agent(monitor).beat();
      detector.launched('a1', 'i-2', [fixed('10.0.0.9')], clock.now());
      const fenced = new Agent(monitor, 'a1', 'i-1', 'boot-1');
      fenced.sequence = 1;
      const outcomes: HeartbeatOutcome[] = [];
      for (let beat = 0; beat < 5; beat++) {
        clock.advance(intervalMs);
        outcomes.push(fenced.beat());
      }
      fenced.reboot('boot-2');
      outcomes.push(fenced.beat());
      expect(new Set(outcomes)).toEqual(new Set(['stale-instance']));
      expect(ofKind('stale-instance').map(({ observation }) => [observation.key, observation.currentInstanceId])).toEqual([
        ['stale:a1:i-1:boot-1', 'i-2'],
        ['stale:a1:i-1:boot-2', 'i-2'],
      ]);
      expect(detector.liveness('a1')).toMatchObject({ state: 'booting', instanceId: 'i-2', lastBeatAt: undefined, staleBeats: 6 });

      // The current VM never beats while the fenced one keeps beating: the verdict still comes.
      for (let second = 0; second < bootGraceMs / intervalMs + missed + 1; second++) {
        clock.advance(intervalMs);
        fenced.beat();
      }
      expect(verdicts().map(({ observation }) => [observation.instanceId, observation.neverBeat])).toEqual([['i-2', true]]);
      expect(ofKind('stale-instance')).toHaveLength(2);
    });

    it('adopts the instance of the first beat when no launch was seen yet', () => {
      const monitor = aMonitor();
      monitor.detector.watch(aSpec());
      expect(new Agent(monitor, 'a1', 'i-7').beat()).toBe('accepted');
      expect(monitor.detector.liveness('a1')).toMatchObject({ state: 'alive', instanceId: 'i-7' });
      expect(monitor.ofKind('running').map(({ observation }) => observation.after)).toEqual(['launch']);
      expect(new Agent(monitor, 'a1', 'i-6').beat()).toBe('stale-instance');
    });
  });

  describe('launches and restarts', () => {
    it('gives a launched VM its boot grace, then says it never beat', () => {
      const { clock, detector, verdicts } = aMonitor();
      const launchedAt = clock.now();
      detector.watch(aSpec());
      detector.launched('a1', 'i-1', [fixed('10.0.0.5')], launchedAt);
      const dueAt = launchedAt + bootGraceMs + timeoutMs;
      expect(detector.liveness('a1')).toMatchObject({ state: 'booting', launchedAt, dueAt });
      clock.advance(dueAt - clock.now() - 1);
      expect(verdicts()).toEqual([]);
      clock.advance(tickMs + 1);
      expect(verdicts()).toHaveLength(1);
      expect(verdicts()[0]?.at).toBeLessThanOrEqual(dueAt + tickMs);
      expect(verdicts()[0]?.observation).toMatchObject({
        key: 'unresponsive:a1:i-1:none:0',
        instanceId: 'i-1',
        lastBeatAt: undefined,
        neverBeat: true,
        missed: (bootGraceMs + timeoutMs) / intervalMs,
      });
    });

    it('reports the first beat of a launched VM as running(launch) and forgets the previous VM', () => {
      const { clock, detector, agent, ofKind } = anAliveAssembly();
      agent.resources = [{ name: 'mysqld', state: 'failed' }];
      agent.beatEvery(intervalMs, 2);
      detector.launched('a1', 'i-2', [fixed('10.0.0.9')], clock.now());
      expect(detector.liveness('a1')).toMatchObject({ state: 'booting', instanceId: 'i-2', bootId: undefined, sequence: undefined, resources: {} });
      clock.advance(20_000);
      const replacement = new Agent(agent.monitor, 'a1', 'i-2', 'boot-9');
      replacement.addresses = [fixed('10.0.0.9'), fixed('172.16.0.9')];
      expect(replacement.beat()).toBe('accepted');
      expect(ofKind('running').map(({ observation }) => [observation.after, observation.key])).toEqual([
        ['launch', 'running:a1:i-1:boot-1'],
        ['launch', 'running:a1:i-2:boot-9'],
      ]);
      expect(ofKind('address-changed')).toEqual([]);
      expect(detector.liveness('a1')?.addresses).toEqual(replacement.addresses);
      expect(agent.beat()).toBe('stale-instance');
    });

    it('gives every assembly one full timeout of grace after the monitor restarts', () => {
      const { clock, detector, verdicts } = aMonitor();
      const restartedAt = clock.now();
      detector.watch(aSpec(), { instanceId: 'i-1', addresses: [fixed('10.0.0.5')], launchedAt: restartedAt - 86_400_000, state: 'restart' });
      expect(detector.liveness('a1')).toMatchObject({ state: 'booting', dueAt: restartedAt + timeoutMs });
      clock.advance(timeoutMs - 1);
      expect(verdicts()).toEqual([]);
      clock.advance(tickMs + 1);
      expect(verdicts().map(({ observation }) => observation)).toMatchObject([{ key: 'unresponsive:a1:i-1:none:0', silentForMs: timeoutMs, missed, neverBeat: false }]);
    });

    it('reports the first beat after the restart as running(restart), keyed like the launch it may repeat', () => {
      const monitor = aMonitor();
      monitor.detector.watch(aSpec(), { instanceId: 'i-1', addresses: [fixed('10.0.0.5')], state: 'restart' });
      monitor.clock.advance(intervalMs);
      const agent = new Agent(monitor);
      agent.sequence = 500;
      expect(agent.beat()).toBe('accepted');
      expect(monitor.ofKind('running').map(({ observation }) => [observation.after, observation.key])).toEqual([['restart', 'running:a1:i-1:boot-1']]);
    });

    it('keeps what it knows when the spec is updated and re-derives dueAt from the new settings', () => {
      const { clock, detector, agent, verdicts } = anAliveAssembly();
      const lastBeatAt = clock.now();
      detector.watch(aSpec('a1', { intervalMs: 500, missed: 2 }), { instanceId: 'i-1', addresses: [] });
      expect(detector.liveness('a1')).toMatchObject({ state: 'alive', bootId: 'boot-1', sequence: agent.sequence, dueAt: lastBeatAt + 1_000 });
      clock.advance(1_000 + tickMs);
      expect(verdicts()).toHaveLength(1);
    });
  });

  describe('silence episodes', () => {
    it('reports the first beat after a verdict as running(silence), and a new silence as a second verdict', () => {
      const { clock, agent, ofKind, verdicts } = anAliveAssembly();
      clock.advance(timeoutMs + tickMs);
      expect(verdicts()).toHaveLength(1);
      clock.advance(5 * intervalMs);
      expect(agent.beat()).toBe('accepted');
      expect(ofKind('running').map(({ observation }) => [observation.after, observation.key])).toEqual([
        ['launch', 'running:a1:i-1:boot-1'],
        ['silence', 'running:a1:i-1:boot-1:2'],
      ]);
      clock.advance(timeoutMs + tickMs);
      expect(verdicts().map(({ observation }) => observation.key)).toEqual(['unresponsive:a1:i-1:boot-1:1', 'unresponsive:a1:i-1:boot-1:2']);
    });

    it('gives no verdict while the gate holds, and gives it once the gate judges', () => {
      let holding = true;
      const asked: number[] = [];
      const gate: VerdictGate = (_liveness, now) => {
        asked.push(now);
        return holding ? { verdict: 'hold', recheckMs: 500 } : { verdict: 'judge' };
      };
      const { clock, detector, verdicts } = anAliveAssembly(aMonitor({ gate }));
      const dueAt = clock.now() + timeoutMs;
      clock.advance(10_000);
      expect(verdicts()).toEqual([]);
      expect(detector.liveness('a1')?.state).toBe('suspect');
      expect(asked[0]).toBeLessThanOrEqual(dueAt + tickMs);
      expect(asked.length).toBeGreaterThanOrEqual(14);
      holding = false;
      const releasedAt = clock.now();
      clock.advance(500 + tickMs);
      expect(verdicts()).toHaveLength(1);
      expect(verdicts()[0]?.at).toBeGreaterThan(releasedAt);
      expect(verdicts()[0]?.observation.missed).toBe(Math.floor((verdicts()[0]?.observation.silentForMs ?? 0) / intervalMs));
    });

    it('gives silent assemblies one more timeout after the monitor itself lagged', () => {
      const { clock, detector, verdicts } = anAliveAssembly();
      clock.advance(2_500);
      expect(detector.liveness('a1')?.state).toBe('suspect');
      const recoveredAt = clock.now();
      detector.grace(recoveredAt);
      expect(detector.liveness('a1')?.dueAt).toBe(recoveredAt + timeoutMs);
      clock.advance(timeoutMs - 1);
      expect(verdicts()).toEqual([]);
      clock.advance(tickMs + 1);
      expect(verdicts()).toHaveLength(1);
    });

    it('gives no silence verdict for a VM the cloud reported failed, and reports its next beat as running again', () => {
      const { clock, detector, agent, ofKind, verdicts } = anAliveAssembly();
      detector.failed('a1', 'i-0');
      expect(detector.liveness('a1')?.state).toBe('alive');
      detector.failed('a1', 'i-1');
      expect(detector.liveness('a1')).toMatchObject({ state: 'failed', dueAt: undefined });
      clock.advance(60_000);
      expect(verdicts()).toEqual([]);
      agent.beat();
      expect(ofKind('running').map(({ observation }) => observation.after)).toEqual(['launch', 'silence']);
      expect(detector.liveness('a1')?.state).toBe('alive');
    });
  });

  describe('resources', () => {
    it('reports each transition of a watched resource once: failed, then running again', () => {
      const { clock, agent, ofKind } = anAliveAssembly();
      const states: ResourceStatus[][] = [
        [{ name: 'mysqld', state: 'running', since: 1 }],
        [{ name: 'mysqld', state: 'failed', since: 2, detail: 'exit code 1' }],
        [{ name: 'mysqld', state: 'failed', since: 2, detail: 'exit code 1' }],
        [{ name: 'mysqld', state: 'starting', since: 3 }],
        [{ name: 'mysqld', state: 'running', since: 4 }],
        [{ name: 'mysqld', state: 'running', since: 4 }],
      ];
      for (const resources of states) {
        clock.advance(intervalMs);
        agent.resources = resources;
        agent.beat();
      }
      expect(ofKind('resource-failed').map(({ observation }) => observation)).toMatchObject([
        { key: 'resource-failed:a1:mysqld:boot-1:2', resource: 'mysqld', state: 'failed', detail: 'exit code 1' },
      ]);
      expect(ofKind('resource-running').map(({ observation }) => observation)).toMatchObject([{ key: 'resource-running:a1:mysqld:boot-1:4', resource: 'mysqld' }]);
    });

    it('records resources the spec does not name without reporting them', () => {
      const { clock, detector, agent, ofKind } = anAliveAssembly();
      agent.resources = [{ name: 'cron', state: 'failed', detail: 'gone' }];
      clock.advance(intervalMs);
      agent.beat();
      expect(ofKind('resource-failed')).toEqual([]);
      expect(detector.liveness('a1')?.resources).toEqual({ cron: { state: 'failed', detail: 'gone' } });
    });

    it('counts a failed resource in the first beat after a reboot as a transition', () => {
      const { clock, agent, ofKind } = anAliveAssembly();
      agent.resources = [{ name: 'mysqld', state: 'failed' }];
      clock.advance(intervalMs);
      agent.beat();
      agent.reboot('boot-2');
      clock.advance(intervalMs);
      agent.beat();
      expect(ofKind('resource-failed').map(({ observation }) => observation.key)).toEqual(['resource-failed:a1:mysqld:boot-1:2', 'resource-failed:a1:mysqld:boot-2:1']);
    });
  });

  describe('addresses', () => {
    it('reports a change once, ignoring network labels and order', () => {
      const { clock, detector, agent, ofKind } = anAliveAssembly();
      // The launch said `10.0.0.5 on private-net`; the guest sees the address without the label.
      agent.beatEvery(intervalMs, 3);
      expect(ofKind('address-changed')).toEqual([]);
      agent.addresses = [fixed('10.0.0.5'), fixed('10.0.0.6')];
      agent.beatEvery(intervalMs, 3);
      agent.addresses = [fixed('10.0.0.6', 'net'), fixed('10.0.0.5')];
      agent.beatEvery(intervalMs, 3);
      expect(ofKind('address-changed').map(({ observation }) => observation)).toMatchObject([
        { key: 'address:a1:i-1:boot-1:5', instanceId: 'i-1', previous: [fixed('10.0.0.5', 'private-net')], current: [fixed('10.0.0.5'), fixed('10.0.0.6')] },
      ]);
      expect(detector.liveness('a1')?.addresses).toEqual([fixed('10.0.0.5'), fixed('10.0.0.6')]);
      clock.advance(intervalMs);
      agent.addresses = [fixed('10.0.0.7')];
      agent.beat();
      expect(ofKind('address-changed')).toHaveLength(2);
    });

    it('adopts the first addresses it learns without calling them a change', () => {
      const monitor = aMonitor();
      monitor.detector.watch(aSpec(), { instanceId: 'i-1', addresses: [], state: 'booting' });
      const agent = new Agent(monitor);
      agent.beat();
      agent.reboot('boot-2');
      agent.beat();
      expect(monitor.ofKind('address-changed')).toEqual([]);
      expect(monitor.detector.liveness('a1')?.addresses).toEqual([fixed('10.0.0.5')]);
    });
  });

  describe('assemblies not expected to beat', () => {
    it('gives no verdict for an assembly watched before any launch', () => {
      const { clock, detector, verdicts } = aMonitor();
      detector.watch(aSpec());
      clock.advance(120_000);
      expect(verdicts()).toEqual([]);
      expect(detector.liveness('a1')).toMatchObject({ state: 'idle', dueAt: undefined });
    });

    it('gives no verdict for a VM stopped on purpose, and its last beats change nothing', () => {
      const { clock, detector, agent, observed, verdicts } = anAliveAssembly();
      detector.idle('a1');
      const before = observed.length;
      agent.resources = [{ name: 'mysqld', state: 'failed' }];
      agent.addresses = [fixed('10.0.0.99')];
      agent.beatEvery(intervalMs, 2);
      clock.advance(120_000);
      expect(verdicts()).toEqual([]);
      expect(observed.length).toBe(before);
      expect(detector.liveness('a1')?.state).toBe('idle');
    });

    it('forgets an unwatched assembly: its beats are unknown and no verdict follows', () => {
      const { clock, detector, agent, verdicts } = anAliveAssembly();
      detector.unwatch('a1');
      expect(detector.has('a1')).toBe(false);
      expect(agent.beat()).toBe('unknown-assembly');
      clock.advance(120_000);
      expect(verdicts()).toEqual([]);
      expect(detector.size).toBe(0);
      expect(detector.counts()).toEqual({ idle: 0, booting: 0, alive: 0, suspect: 0, unresponsive: 0, failed: 0 });
    });
  });

  describe('at scale', () => {
    it('watches 10,000 assemblies beating every second for a minute: no verdict, one wheel task each', () => {
      const monitor = aMonitor();
      const { clock, detector, wheel, verdicts } = monitor;
      const assemblies = 10_000;
      const beats: Heartbeat[] = [];
      for (let index = 0; index < assemblies; index++) {
        const assemblyId = `a${index}`;
        detector.watch(aSpec(assemblyId), { instanceId: `i-${index}`, addresses: [fixed('10.0.0.5')], state: 'restart' });
        beats.push(aHeartbeat({ assemblyId, instanceId: `i-${index}`, sequence: 0, resources: [{ name: 'mysqld', state: 'running' }] }));
      }
      const random = new SeededRandom('phases');
      // Each agent beats once a second at its own phase, with ±20 % jitter; `due[tick % slots]` lists who beats in that tick.
      const slots = 2 * (intervalMs / tickMs);
      const due: number[][] = Array.from({ length: slots }, () => []);
      for (let index = 0; index < assemblies; index++) due[random.int(1, intervalMs / tickMs) % slots]?.push(index);
      const jitterTicks = Array.from({ length: 997 }, () => random.int((0.8 * intervalMs) / tickMs, (1.2 * intervalMs) / tickMs));
      let jitter = 0;
      let mostTasks = wheel.size;
      let accepted = 0;
      for (let tick = 1; tick <= 60_000 / tickMs; tick++) {
        clock.advance(tickMs);
        const beating = due[tick % slots] as number[];
        const count = beating.length;
        for (let at = 0; at < count; at++) {
          const index = beating[at] as number;
          const beat = beats[index] as Heartbeat;
          beat.sequence++;
          if (detector.heartbeat(beat, clock.now()) === 'accepted') accepted++;
          due[(tick + (jitterTicks[jitter++ % jitterTicks.length] as number)) % slots]?.push(index);
        }
        beating.length = 0;
        mostTasks = Math.max(mostTasks, wheel.size);
      }
      expect(accepted).toBeGreaterThan(assemblies * 59);
      expect(verdicts()).toEqual([]);
      expect(mostTasks).toBeLessThanOrEqual(assemblies);
      expect(detector.counts()).toMatchObject({ alive: assemblies, unresponsive: 0 });
    });
  });

  it('counts assemblies per state and lists their snapshots', () => {
    const monitor = aMonitor();
    const { clock, detector } = monitor;
    for (const assemblyId of ['a1', 'a2', 'a3']) detector.watch(aSpec(assemblyId));
    detector.launched('a2', 'i-2', [], clock.now());
    detector.launched('a3', 'i-3', [], clock.now());
    new Agent(monitor, 'a3', 'i-3').beat();
    expect(detector.counts()).toEqual({ idle: 1, booting: 1, alive: 1, suspect: 0, unresponsive: 0, failed: 0 });
    expect([...detector.summaries()].map((liveness) => [liveness.spec.assemblyId, liveness.state])).toEqual([
      ['a1', 'idle'],
      ['a2', 'booting'],
      ['a3', 'alive'],
    ]);
  });
});
