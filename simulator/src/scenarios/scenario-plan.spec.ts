import { describe, expect, it } from 'vitest';
import { loadScenario } from './scenario-loader.ts';
import { planScenario } from './scenario-plan.ts';

const scenario = (seed: string, faults: string): ReturnType<typeof loadScenario>['scenario'] => loadScenario(`name: plan\nseed: ${seed}\nfaults:\n${faults}`).scenario;

const randomCrashes = `  - at: { between: [10s, 60s] }
    count: 5
    kind: vm-crash
    target: { cloud: sim-openstack, pick: 1 }
`;

describe('scenario plan', () => {
  it('places seeded-random faults inside their window, the same for the same seed', () => {
    const plan = planScenario(scenario('a', randomCrashes));
    expect(plan).toHaveLength(5);
    for (const fault of plan) expect(fault.atMs).toBeGreaterThanOrEqual(10_000);
    for (const fault of plan) expect(fault.atMs).toBeLessThanOrEqual(60_000);
    expect(planScenario(scenario('a', randomCrashes))).toEqual(plan);
  });

  it('draws other times for another seed', () => {
    const times = (seed: string): number[] => planScenario(scenario(seed, randomCrashes)).map((fault) => fault.atMs);
    expect(times('b')).not.toEqual(times('a'));
  });

  it('repeats a fixed-time fault every period and orders everything by time, then by file order', () => {
    const plan = planScenario(
      scenario(
        'c',
        `  - at: 30s
    count: 3
    every: 1m
    kind: api-outage
    target: { cloud: sim-ec2 }
    duration: 10s
  - at: 30s
    kind: vm-crash
    target: { vm: web }
`,
      ),
    );
    expect(plan.map(({ entry, atMs }) => [entry, atMs])).toEqual([
      [0, 30_000],
      [1, 30_000],
      [0, 90_000],
      [0, 150_000],
    ]);
    expect(plan[0]?.spec).toEqual({ kind: 'api-outage', target: { cloud: 'sim-ec2' }, duration: 10_000 });
  });

  it('keeps the other faults where they were when one is added', () => {
    const before = planScenario(scenario('d', randomCrashes));
    const after = planScenario(scenario('d', `${randomCrashes}  - at: { between: [0s, 5s] }\n    kind: vm-hang\n    target: { vm: x }\n`));
    expect(after.filter((fault) => fault.entry === 0)).toEqual(before);
  });
});
