import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverParts } from '../src/parts.ts';
import { cleanUpServiceBus, createIsolatedBus, createIsolatedDatabase, type IsolatedBus, type IsolatedDatabase } from '../../../test/support/index.ts';
import { startSupervisorProcess, type SupervisorProcess } from './supervisor-process.ts';

/** The services this checkout holds (recovery once its entry point exists); the simulator is made to fail here. */
const services = discoverParts(fileURLToPath(new URL('../../../', import.meta.url)))
  .map((part) => part.name)
  .filter((name) => name !== 'simulator');

describe('pnpm start (the supervisor)', () => {
  let database: IsolatedDatabase;
  let bus: IsolatedBus;
  let supervisor: SupervisorProcess;

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    bus = createIsolatedBus();
    supervisor = startSupervisorProcess({
      DATABASE_URL: database.url,
      AMQP_URL: bus.url,
      BUS_PREFIX: bus.prefix,
      DEFIB_ADMIN_TOKEN: 'admin-token-supervisor-0123',
      DEFIB_SECRET_KEY: randomBytes(32).toString('base64'),
      DEFIB_AGENT_SECRET: randomBytes(32).toString('base64'),
      DEFIB_SERVICE_TOKEN: 'service-token-supervisor-0123',
      MONITOR_REPLICA_ID: 'supervised',
      RECOVERY_REPLICA_ID: 'supervised',
      // The simulator cannot start with this; the others must not care.
      SIM_SPEED_FACTOR: 'fast',
    });
  });

  afterAll(async () => {
    await supervisor?.stop('SIGKILL');
    await cleanUpServiceBus(bus, ['registry', 'notifier', 'monitor', 'monitor.supervised', 'recovery', 'recovery.supervised']);
    await database?.drop();
  });

  it('reports a part that fails to start with its own reason and keeps the others running', async () => {
    const running = await supervisor.running();
    expect(services).toEqual(expect.arrayContaining(['monitor', 'notifier', 'registry']));
    expect(Object.keys(running).sort()).toEqual(services);
    for (const url of Object.values(running)) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const failure = supervisor.records().find((record) => record.service === 'supervisor' && record.part === 'simulator');
    expect(failure).toMatchObject({ level: 'error', msg: expect.stringMatching(/^simulator failed to start \(exit code 2\): invalid configuration: SIM_SPEED_FACTOR: must be a number; the other parts keep running$/) as unknown });
  });

  it('passes the parts’ JSON log lines through untouched when its output is not a terminal', () => {
    expect(new Set(supervisor.records().map((record) => record.service))).toEqual(new Set([...services, 'supervisor']));
    expect(supervisor.output.filter((line) => line.startsWith('simulator '))).toEqual(expect.arrayContaining([expect.stringContaining('SIM_SPEED_FACTOR')]));
  });

  it('stops every part on SIGTERM, each saying so, and exits 0 with one line', async () => {
    expect(await supervisor.stop('SIGTERM')).toBe(0);
    const records = supervisor.records();
    for (const part of services) expect(records).toContainEqual(expect.objectContaining({ service: part, msg: 'stopped' }));
    expect(records.at(-1)).toMatchObject({ service: 'supervisor', level: 'info', msg: `Defib stopped (${services.join(', ')})` });
  });
});
