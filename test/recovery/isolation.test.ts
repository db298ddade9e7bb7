/**
 * Faults outside the ladder: a cloud API that is down while a VM needs recovering, and a
 * deployable whose data recovery cannot work with. Neither may burn the ladder, crash the service
 * or stall the others: the incident is marked errored and retried on the same rung with backoff,
 * and a poisoned deployable is retried with backoff while every other deployable carries on.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { ladderRungs, runningAssembly, startRecoveryWorld, type RecoveryWorld } from './recovery-world.ts';

let world: RecoveryWorld;
let database: pg.Client;

beforeAll(async () => {
  world = await startRecoveryWorld();
  database = new pg.Client({ connectionString: world.database.url });
  await database.connect();
}, 60_000);

afterAll(async () => {
  await database?.end();
  await world?.close();
}, 30_000);

describe('faults outside the ladder', () => {
  it('marks an incident errored while the cloud API is down and retries the same rung once it answers', async () => {
    const { assemblyId } = await running('outage');
    const outage = await world.fault({ kind: 'api-outage', target: { cloud: 'sim-openstack' } });
    await world.fault({ kind: 'vm-crash', target: { assembly: assemblyId } });

    await waitFor(async () => (await world.incidents({ state: 'open' })).find((incident) => incident.assemblyId === assemblyId && incident.status === 'errored'), { timeoutMs: 30_000, what: 'an errored incident' });
    await world.heal(outage.id);

    const incident = await world.waitForClosedIncident(assemblyId, 40_000);
    expect(incident.outcome).toBe('recovered');
    const rungs = ladderRungs(incident.steps);
    // Every failed try was the cloud's fault, not the rung's: the ladder was not climbed.
    expect(rungs.at(-1)).toBe('reboot:succeeded');
    expect(rungs.every((rung) => rung.startsWith('reboot:'))).toBe(true);
    expect(incident.steps.filter((step) => step.state === 'failed').every((step) => step.detail.outsideLadder === true)).toBe(true);
    const attempts = incident.steps.filter((step) => step.kind === 'reboot').map((step) => step.attempt);
    expect(attempts).toEqual(attempts.map((_, index) => index + 1));
  }, 90_000);

  it('retries a deployable whose data it cannot work with, with backoff, while another deployable starts', async () => {
    const poisoned = randomUUID();
    await database.query(
      `insert into recovery.deployables (id, name, cloud, version, manifest, assembly_ids, resource_ids, desired, state, due_at)
       values ($1, 'poisoned', 'sim-openstack', 1, '{"assemblies": "not a list"}', '{}', '{}', 'running', 'stopped', clock_timestamp())`,
      [poisoned],
    );
    await running('healthy');
    const row = await waitFor(
      async () => {
        const { rows } = await database.query<{ errors: number; last_error: string | null; due_at: Date | null }>('select errors, last_error, due_at from recovery.deployables where id = $1', [poisoned]);
        return rows[0] !== undefined && rows[0].errors >= 2 ? rows[0] : undefined;
      },
      { timeoutMs: 20_000, what: 'the poisoned deployable retried' },
    );
    expect(row.last_error).toBeTruthy();
    expect(row.due_at).not.toBeNull();
    expect(world.recoveryLogs.some((line) => line.includes('planning a deployable failed'))).toBe(true);
  }, 60_000);
});

const running = (name: string) => runningAssembly(world, name);
