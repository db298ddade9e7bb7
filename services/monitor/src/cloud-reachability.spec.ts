import { ManualClock } from '@defib/platform/testing';
import { describe, expect, it } from 'vitest';
import { CloudReachability, type ReachabilityChange } from './cloud-reachability.ts';

function reachability() {
  const clock = new ManualClock();
  const changes: ReachabilityChange[] = [];
  const watch = new CloudReachability({ clock, unreachableAfterMs: 15_000, onChange: (change) => changes.push(change) });
  return { clock, changes, watch };
}

describe('cloud reachability', () => {
  it('says nothing of a cloud that fails a poll now and then', () => {
    const { clock, changes, watch } = reachability();
    for (let round = 0; round < 10; round++) {
      watch.failed('sim-openstack', 'cloud sim-openstack: list failed: throttled');
      clock.advance(5_000);
      watch.succeeded('sim-openstack');
      clock.advance(5_000);
    }
    expect(changes).toEqual([]);
  });

  it('reports a cloud failing every poll for the whole period once, and once when it answers again', () => {
    const { clock, changes, watch } = reachability();
    for (let round = 0; round < 8; round++) {
      watch.failed('sim-ec2', 'cloud sim-ec2: list failed: connection refused');
      clock.advance(5_000);
    }
    watch.succeeded('sim-ec2');
    expect(changes).toEqual([
      { cloud: 'sim-ec2', unreachable: true, failingForMs: 15_000, detail: 'cloud sim-ec2: list failed: connection refused' },
      { cloud: 'sim-ec2', unreachable: false, unreachableForMs: 40_000 },
    ]);
    expect(watch.unreachable()).toEqual([]);
  });

  it('keeps clouds apart', () => {
    const { clock, changes, watch } = reachability();
    for (let round = 0; round < 4; round++) {
      watch.failed('a', 'down');
      watch.succeeded('b');
      clock.advance(5_000);
    }
    expect(changes.map((change) => change.cloud)).toEqual(['a']);
    expect(watch.unreachable()).toEqual(['a']);
  });
});
