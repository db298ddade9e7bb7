import { describe, expect, it } from 'vitest';
import { SeededRandom, type Clock } from '@defib/platform';
import { ManualClock } from '@defib/platform/testing';
import { SelfLagGuard, type SelfLagChange, type SelfLagGuardOptions } from './self-lag-guard.ts';

const intervalMs = 1_000;
const stepMs = 10;

function guardOn(clock: Clock, options: Partial<SelfLagGuardOptions> = {}) {
  const changes: SelfLagChange[] = [];
  const guard = new SelfLagGuard({ clock, onChange: (change) => changes.push(change), ...options });
  return { guard, changes };
}

/**
 * A fleet of agents beating every second with skewed clocks and up to 200 ms of transit jitter,
 * and the service around the guard: it feeds every beat, reports silence every 100 ms (an
 * assembly is suspect 1.5 intervals after its last beat), and can stop consuming for a while,
 * then receive the backlog at once.
 */
function fleet(clock: ManualClock, guard: SelfLagGuard, size: number, skewOf: (index: number) => number) {
  const random = new SeededRandom('self-lag-guard');
  const agents = Array.from({ length: size }, (_, index) => ({
    id: `assembly-${index}`,
    skewMs: skewOf(index),
    nextSendAt: clock.now() + Math.floor((index * intervalMs) / size),
    lastReceivedAt: clock.now(),
    suspectSince: undefined as number | undefined,
  }));
  const inFlight: Array<{ agent: (typeof agents)[number]; sentAt: number; arrivesAt: number }> = [];
  let consuming = true;
  let lastSilenceReport = clock.now();

  function step(): void {
    clock.advance(stepMs);
    const now = clock.now();
    for (const agent of agents) {
      if (agent.nextSendAt > now) continue;
      inFlight.push({ agent, sentAt: agent.nextSendAt + agent.skewMs, arrivesAt: agent.nextSendAt + random.int(5, 200) });
      agent.nextSendAt += intervalMs;
    }
    if (consuming) {
      for (let index = 0; index < inFlight.length; ) {
        const beat = inFlight[index]!;
        if (beat.arrivesAt > now) {
          index += 1;
          continue;
        }
        inFlight.splice(index, 1);
        guard.beat(beat.sentAt, now, beat.agent.id);
        beat.agent.lastReceivedAt = now;
        beat.agent.suspectSince = undefined;
      }
    }
    if (now - lastSilenceReport >= 100) {
      lastSilenceReport = now;
      let fellSilent = 0;
      for (const agent of agents) {
        if (agent.suspectSince === undefined && now - agent.lastReceivedAt > 1.5 * intervalMs) agent.suspectSince = now;
        if (agent.suspectSince !== undefined && now - agent.suspectSince < intervalMs) fellSilent += 1;
      }
      guard.silence(size, fellSilent);
    }
  }

  return {
    agents,
    /** Runs for `ms`, calling `watch` after every step. */
    run(ms: number, watch: () => void = () => undefined): void {
      for (let elapsed = 0; elapsed < ms; elapsed += stepMs) {
        step();
        watch();
      }
    },
    pauseConsumption(): void {
      consuming = false;
    },
    resumeConsumption(): void {
      consuming = true;
    },
  };
}

describe('self-lag guard', () => {
  it('is never degraded by steady beats from VMs whose clocks are seconds off', () => {
    const clock = new ManualClock();
    const { guard, changes } = guardOn(clock);
    guard.start();
    // +3 s, −2 s and on time; a minute and more, so baselines are renewed on the way.
    const world = fleet(clock, guard, 90, (index) => [3_000, -2_000, 0][index % 3]!);
    let maxLagMs = 0;
    world.run(75_000, () => {
      maxLagMs = Math.max(maxLagMs, guard.lagMs);
      expect(guard.degraded).toBe(false);
    });
    expect(changes).toEqual([]);
    expect(maxLagMs).toBeLessThan(300);
    expect(guard.reason).toBeUndefined();
  });

  it('ignores one VM whose clock steps back by seconds', () => {
    const clock = new ManualClock();
    const { guard, changes } = guardOn(clock);
    guard.start();
    const world = fleet(clock, guard, 50, () => 3_000);
    world.run(5_000);
    world.agents[7]!.skewMs = -2_000; // NTP stepped its clock 5 s back: its beats look 5 s late
    world.run(10_000, () => expect(guard.degraded).toBe(false));
    expect(changes).toEqual([]);
  });

  it('gives exactly one degraded and one recovered for a 5 s pause of consumption and its backlog', () => {
    const clock = new ManualClock();
    const { guard, changes } = guardOn(clock);
    guard.start();
    const world = fleet(clock, guard, 200, (index) => (index % 2 === 0 ? 3_000 : -1_500));
    world.run(10_000);
    expect(changes).toEqual([]);

    const pausedAt = clock.now();
    world.pauseConsumption();
    let peakLagMs = 0;
    const watch = () => {
      peakLagMs = Math.max(peakLagMs, guard.lagMs);
    };
    world.run(5_000, watch);
    // A verdict due 3 intervals after the pause began finds the guard holding.
    expect(guard.degraded).toBe(true);
    expect(guard.reason).toMatch(/% of 200 assemblies fell silent within one interval, no heartbeat for 5\.0 s/);
    world.resumeConsumption();
    world.run(1_000, () => {
      watch();
      expect(guard.degraded).toBe(true);
    });
    world.run(5_000, watch);

    expect(changes).toHaveLength(2);
    const [degraded, recovered] = changes;
    if (degraded?.degraded !== true || recovered?.degraded !== false) throw new Error(`unexpected changes ${JSON.stringify(changes)}`);
    // Degraded once silence spread, about 1.1 s into the pause: nothing had arrived for that long.
    expect(degraded.detail).toMatch(/fell silent within one interval/);
    expect(degraded.lagMs).toBeGreaterThan(900);
    expect(degraded.lagMs).toBeLessThan(1_600);
    // The backlog arrived up to 5 s late.
    expect(peakLagMs).toBeGreaterThan(4_500);
    expect(peakLagMs).toBeLessThanOrEqual(5_200);
    // Recovered 2 s after the backlog's window: about 7 s after degrading.
    expect(recovered.degradedForMs).toBeGreaterThan(6_000);
    expect(recovered.degradedForMs).toBeLessThan(8_000);
    expect(clock.now() - pausedAt).toBeGreaterThan(recovered.degradedForMs);
    expect(guard.degraded).toBe(false);
    expect(guard.lagMs).toBeLessThan(300);
  });

  it('degrades when beats keep arriving seconds late, and recovers when they are on time again', () => {
    const clock = new ManualClock();
    const { guard, changes } = guardOn(clock);
    guard.start();
    let delayMs = 0;
    let sequence = 0;
    const beatAll = () => {
      for (let index = 0; index < 20; index++) guard.beat(clock.now() - delayMs + 500, clock.now(), `assembly-${index}`);
      sequence += 1;
    };
    for (let second = 0; second < 5; second++) {
      beatAll();
      clock.advance(1_000);
    }
    delayMs = 8_000; // the broker delays delivery by 8 s
    for (let second = 0; second < 3; second++) {
      beatAll();
      clock.advance(1_000);
    }
    expect(changes).toEqual([{ degraded: true, cause: 'lagging', lagMs: 8_000, detail: 'heartbeats arrive 8.0 s late' }]);
    delayMs = 0;
    for (let second = 0; second < 5; second++) {
      beatAll();
      clock.advance(1_000);
    }
    expect(sequence).toBe(13);
    expect(changes).toHaveLength(2);
    expect(changes[1]).toMatchObject({ degraded: false });
  });

  it('degrades on an event-loop stall and recovers after the settle time', () => {
    const clock = new ManualClock();
    const { guard, changes } = guardOn(clock);
    guard.start();
    clock.advance(1_000);
    const ranAt = clock.now();
    guard.loopTick(ranAt - 5_000, ranAt);
    expect(guard.degraded).toBe(true);
    expect(changes).toEqual([{ degraded: true, cause: 'lagging', lagMs: 0, detail: 'event loop stalled 5.0 s' }]);
    clock.advance(1_000);
    expect(guard.reason).toMatch(/^settling: healthy for 1\.\d s of 2\.0 s \(event loop stalled 5\.0 s\)$/);
    clock.advance(1_100);
    expect(changes).toEqual([changes[0], { degraded: false, cause: 'lagging', degradedForMs: 2_000 }]);
  });

  it('holds verdicts while its own tick is overdue, before the stall is reported', () => {
    let now = Date.UTC(2026, 11, 1);
    const frozen: Clock = { now: () => now, schedule: () => ({ cancel: () => undefined }) };
    const { guard } = guardOn(frozen);
    guard.start();
    now += 500;
    expect(guard.degraded).toBe(false);
    now += 5_000; // the loop was stuck: the tick due 100 ms after start has not run yet
    expect(guard.degraded).toBe(true);
    expect(guard.reason).toBe('a tick is overdue: the event loop is stalled');
  });

  it('degrades while too many heartbeats wait in the queue, and ignores depth when the limit is 0', () => {
    const clock = new ManualClock();
    const { guard, changes } = guardOn(clock, { maxQueueDepth: 20_000 });
    guard.start();
    guard.queueDepth(19_000);
    expect(guard.degraded).toBe(false);
    guard.queueDepth(25_000);
    expect(changes).toEqual([{ degraded: true, cause: 'lagging', lagMs: 0, detail: '25000 heartbeats wait in the queue (limit 20000)' }]);
    clock.advance(5_000);
    guard.queueDepth(100);
    clock.advance(1_900);
    expect(guard.degraded).toBe(true);
    clock.advance(200);
    expect(changes[1]).toEqual({ degraded: false, cause: 'lagging', degradedForMs: 7_000 });

    const unlimited = guardOn(clock, { maxQueueDepth: 0 });
    unlimited.guard.queueDepth(1_000_000);
    expect(unlimited.guard.degraded).toBe(false);
  });

  describe('silence share', () => {
    it('degrades when most assemblies fall silent within one interval', () => {
      const clock = new ManualClock();
      const { guard, changes } = guardOn(clock);
      guard.start();
      guard.beat(clock.now(), clock.now(), 'assembly-1');
      clock.advance(1_000);
      guard.silence(10_000, 5_400);
      expect(guard.degraded).toBe(false);
      guard.silence(10_000, 9_300);
      expect(changes).toEqual([
        { degraded: true, cause: 'lagging', lagMs: 1_000, detail: '93 % of 10000 assemblies fell silent within one interval, no heartbeat for 1.0 s' },
      ]);
    });

    it('keeps holding while nothing arrives, though the assemblies fell silent long ago', () => {
      const clock = new ManualClock();
      const { guard, changes } = guardOn(clock);
      guard.start();
      guard.silence(100, 100);
      for (let report = 0; report < 600; report++) {
        clock.advance(100);
        guard.silence(100, 0);
      }
      expect(guard.degraded).toBe(true);
      expect(changes).toHaveLength(1);
    });

    it('recovers when beats arrive again from elsewhere: a silent cloud is then a matter for the disruption guard', () => {
      const clock = new ManualClock();
      const { guard, changes } = guardOn(clock);
      guard.start();
      guard.silence(100, 60);
      expect(guard.degraded).toBe(true);
      for (let report = 0; report < 25; report++) {
        clock.advance(100);
        for (let index = 60; index < 100; index++) guard.beat(clock.now(), clock.now(), `assembly-${index}`);
        guard.silence(100, report < 10 ? 60 : 0);
      }
      expect(changes).toHaveLength(1);
      clock.advance(1_000);
      guard.silence(100, 0);
      expect(changes).toHaveLength(2);
      expect(guard.degraded).toBe(false);
    });

    it('never blames itself when a small installation loses its VMs', () => {
      const clock = new ManualClock();
      const { guard, changes } = guardOn(clock);
      guard.start();
      guard.silence(1, 1); // the only VM died: a VM failure
      guard.silence(2, 2);
      clock.advance(5_000);
      expect(guard.degraded).toBe(false);
      guard.silence(3, 3);
      expect(guard.degraded).toBe(true);
      expect(changes).toHaveLength(1);
    });
  });
});
