/**
 * Chaos on Defib itself, mid-drill: its processes SIGKILLed at seeded-random moments and started
 * again (once with two replicas of each service), the broker closing every connection of its
 * services, PostgreSQL terminating every connection to its database. Every fault must still be
 * recovered, never with two live instances of one assembly, and no notification lost (a delivery
 * may come twice only where the receiver had not acknowledged it).
 */
import { describe, expect, it } from 'vitest';
import { checkNamed, runNamedDrill } from './drill-harness.ts';

async function expectRecoveredThrough(name: string, disruptions: number): Promise<void> {
  const { report, lines } = await runNamedDrill(name);
  const trace = lines.join('\n');
  expect(report.faults.filter((fault) => fault.outcome !== 'recovered').map((fault) => `${fault.name}: ${fault.outcome}`), trace).toEqual([]);
  expect(report.disruptions.length, trace).toBe(disruptions);
  const invariants = ['never two live instances', 'every event delivered exactly once', 'every signature valid', 'no notification lost'].map((name) => checkNamed(report, name));
  const comebacks = report.checks.filter((check) => check.name.endsWith('came back after being killed'));
  // Failed checks with their details, so a failure says what broke.
  expect([...invariants, ...comebacks].filter((check) => !check.held), trace).toEqual([]);
}

describe('the chaos drills', () => {
  it('recovers every fault while the monitor, recovery and the notifier are each killed and restarted', () => expectRecoveredThrough('chaos-kills', 3), 300_000);

  it('recovers every fault with two replicas of each service while one replica of each is killed', () => expectRecoveredThrough('chaos-replicas', 3), 300_000);

  it('recovers every fault while the broker closes every service connection and the database terminates every session', async () => {
    await expectRecoveredThrough('chaos-infrastructure', 2);
  }, 300_000);
});
