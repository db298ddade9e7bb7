/** Starts a simulator on 127.0.0.1:0 with a manual clock for API tests; always stop it. */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach } from 'vitest';
import { AGENT_PROTOCOL_VERSION, encodeAgentConfig } from '@defib/contracts';
import { testAgentKeyText } from '@defib/contracts/testing';
import { ManualClock } from '@defib/platform/testing';
import { waitFor } from '../../../test/support/index.ts';
import { createSimulator } from '../../src/simulator.ts';
import type { Simulator, SimulatorOptions } from '../../src/simulator.ts';

export interface RunningSimulator {
  simulator: Simulator;
  clock: ManualClock;
  url: string;
  stop(): Promise<void>;
}

/** Lifecycle times used by API tests: round numbers, no jitter. */
export const testTimings = { build: 10_000, reboot: 4_000, hardReboot: 2_000, stop: 3_000, start: 5_000, rebuild: 6_000, delete: 1_000, jitter: 0, deletedRetention: 60_000, statusChecksAfter: 30_000 };

export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const simulator = createSimulator({
    clock,
    seed: 'api-test',
    clouds: [
      { name: 'sim-openstack', provider: 'openstack', timings: testTimings },
      { name: 'sim-ec2', provider: 'ec2', timings: testTimings },
    ],
    ...options,
  });
  const { url } = await simulator.start(0);
  return { simulator, clock, url, stop: () => simulator.stop() };
}

/** A simulator and an admin token, fresh for each test of the file that calls `simulatorPerTest`. */
export interface SimulatorSession {
  sim: RunningSimulator;
  token: string;
}

/** Starts a simulator and takes an admin token before each test; stops it after. */
export function simulatorPerTest(options: SimulatorOptions = {}): SimulatorSession {
  const session = {} as SimulatorSession;
  beforeEach(async () => {
    session.sim = await startSimulator(options);
    session.token = await adminToken(session.sim.url);
  });
  afterEach(() => session.sim.stop());
  return session;
}

/** A password-auth request body for Keystone v3, scoped to a project by name. */
export function passwordAuth(user = 'admin', password = 'secret', project: string | null = 'admin'): object {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
      ...(project === null ? {} : { scope: { project: { name: project, domain: { name: 'Default' } } } }),
    },
  };
}

/** Authenticates as admin and returns the token id. */
export async function adminToken(url: string): Promise<string> {
  const response = await fetch(`${url}/identity/v3/auth/tokens`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(passwordAuth()) });
  const token = response.headers.get('X-Subject-Token');
  if (response.status !== 201 || !token) throw new Error(`authentication failed: ${response.status}`);
  return token;
}

/**
 * Advances simulated time a beat (a second) at a time until `done` has a value, giving the broker
 * a moment between beats: for tests where agents talk over a real RabbitMQ.
 */
export function beatUntil<T>(clock: ManualClock, done: () => T | undefined, what: string): Promise<T> {
  return waitFor(
    () => {
      const value = done();
      if (value === undefined) clock.advance(1_000);
      return value;
    },
    { what, intervalMs: 25, timeoutMs: 15_000 },
  );
}

/** User data for a VM of assembly `db` whose agent beats every second, signing with its test key. */
export function agentUserData(options: { brokerUrl: string; exchange: string; assemblyId: string; resources?: readonly string[]; monitorIntervalMs?: number }): string {
  return encodeAgentConfig({
    protocol: AGENT_PROTOCOL_VERSION,
    brokerUrl: options.brokerUrl,
    exchange: options.exchange,
    deployableId: randomUUID(),
    assemblyId: options.assemblyId,
    key: testAgentKeyText(options.assemblyId),
    assembly: 'db',
    heartbeatIntervalMs: 1_000,
    resources: (options.resources ?? ['mysqld']).map((name) => ({ name, monitorIntervalMs: options.monitorIntervalMs ?? 1_000 })),
  });
}
