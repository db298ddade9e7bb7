/**
 * A service that talks to clouds (standing in for recovery or the monitor) gets its cloud
 * connections from a real registry with a service token, keeps them sealed in its own table,
 * follows the registry's cloud events, and keeps working from its sealed copy while the registry
 * is down.
 */
import { randomBytes } from 'node:crypto';
import {
  cloudConnectionHandlers,
  cloudConnectionMigrations,
  CloudConnectionUnavailable,
  CloudNotRegistered,
  createCloudConnections,
  registryConnectionSource,
  type CloudConnections,
  type CloudConnectionTables,
} from '@defib/clouds';
import { Bus, consumeDomainEvents, createDatabase, createLogger, migrateToLatest, platformMigrations, SecretBox, type Database, type PlatformTables } from '@defib/platform';
import { createRegistryService, type RegistryConfig, type RegistryService } from '@defib/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, captureLogs, cleanUpServiceBus, createIsolatedBus, createIsolatedDatabase, testServiceConfig, waitFor, type ApiClient, type IsolatedBus, type IsolatedDatabase } from '../support/index.ts';

const ADMIN_TOKEN = 'admin-token-connections-0123';
const SERVICE_TOKEN = 'service-token-connections-0123';
const CALLER = 'caller';
const quiet = createLogger({ service: CALLER, level: 'silent' });

const openstack = (password: string) => ({
  provider: 'openstack' as const,
  authUrl: 'http://127.0.0.1:7200/identity/v3',
  region: 'RegionOne',
  credentials: { username: 'admin', password, project: 'admin', domain: 'Default' },
});

type CallerTables = PlatformTables & CloudConnectionTables;

describe('cloud connections of a service', () => {
  let registryDatabase: IsolatedDatabase;
  let callerDatabase: IsolatedDatabase;
  let bus: IsolatedBus;
  let registryConfig: RegistryConfig;
  let registry: RegistryService | undefined;
  let admin: ApiClient;
  let caller: Database<CallerTables>;
  let callerBus: Bus;
  let connections: CloudConnections;
  /** The caller's own key. */
  const secrets = new SecretBox(randomBytes(32));
  const registryLogs: string[] = [];
  const callerLogs: string[] = [];
  /** The caller's clock: only moves when a test says so. */
  let now = 0;

  async function startRegistry(): Promise<void> {
    registry = createRegistryService(registryConfig, { logger: captureLogs('registry', registryLogs) });
    registryConfig.port = (await registry.start()).port;
  }

  async function stopRegistry(): Promise<void> {
    await registry?.stop();
    registry = undefined;
  }

  async function sealedRows() {
    return caller.db.selectFrom('cloud_connections').selectAll().orderBy('name').execute();
  }

  beforeAll(async () => {
    [registryDatabase, callerDatabase] = await Promise.all([createIsolatedDatabase(), createIsolatedDatabase()]);
    bus = createIsolatedBus();
    registryConfig = {
      ...testServiceConfig(registryDatabase, bus, { databasePoolSize: 5, auth: { adminToken: ADMIN_TOKEN, readTokens: [], serviceTokens: [SERVICE_TOKEN], openReads: false } }),
      secretKey: randomBytes(32).toString('base64'),
      unactedStartAfterMs: 30_000,
      cloudCheckTimeoutMs: 2_000,
    };
    await startRegistry();
    admin = apiClient(() => `http://127.0.0.1:${registryConfig.port}`, ADMIN_TOKEN);

    caller = createDatabase<CallerTables>({ url: callerDatabase.url, schema: CALLER, logger: quiet });
    await migrateToLatest(caller, { ...platformMigrations, ...cloudConnectionMigrations }, quiet);
    connections = createCloudConnections({
      db: caller.db,
      source: registryConnectionSource({ registryUrl: `http://127.0.0.1:${registryConfig.port}`, serviceToken: SERVICE_TOKEN, timeoutMs: 2_000 }),
      secrets,
      logger: captureLogs(CALLER, callerLogs),
      retryAfterMs: 5_000,
      clock: { now: () => now },
    });
    callerBus = new Bus({ url: bus.url, prefix: bus.prefix, connectionName: CALLER, logger: quiet });
    await callerBus.start();
    await consumeDomainEvents(callerBus, { consumer: CALLER, handlers: cloudConnectionHandlers(connections), logger: quiet });
  });

  afterAll(async () => {
    await callerBus?.close();
    await caller?.close();
    await stopRegistry();
    await cleanUpServiceBus(bus, ['registry', CALLER]);
    await Promise.all([registryDatabase?.drop(), callerDatabase?.drop()]);
  });

  it('fetches a connection with its service token and keeps it sealed in its own table', async () => {
    await admin.json('PUT', '/v1/clouds/sim-a', 201, { body: openstack('first-password-a') });
    const registration = await connections.get('sim-a');
    expect(registration).toEqual({ ...openstack('first-password-a'), interface: 'public', limits: { requestsPerSecond: 10, concurrency: 10 } });
    const [row] = await sealedRows();
    expect(row).toMatchObject({ name: 'sim-a', provider: 'openstack', stale: false });
    expect(row?.sealed_registration).not.toContain('first-password-a');
    expect(row?.sealed_registration).toMatch(/^v1\./);
  });

  it('fetches again a copy sealed with another key (a replica with another DEFIB_SECRET_KEY) instead of failing', async () => {
    const otherReplica = createCloudConnections({
      db: caller.db,
      source: registryConnectionSource({ registryUrl: `http://127.0.0.1:${registryConfig.port}`, serviceToken: SERVICE_TOKEN, timeoutMs: 2_000 }),
      secrets: new SecretBox(randomBytes(32)),
      logger: quiet,
      clock: { now: () => now },
    });
    expect(((await otherReplica.get('sim-a')).credentials as { password: string }).password).toBe('first-password-a');
    expect(((await connections.get('sim-a')).credentials as { password: string }).password).toBe('first-password-a');
  });

  it('follows a new registration announced by cloud.registered', async () => {
    await admin.json('PUT', '/v1/clouds/sim-a', 200, { body: openstack('second-password-a') });
    await waitFor(async () => ((await connections.get('sim-a')).credentials as { password: string }).password === 'second-password-a' || undefined, {
      what: 'the sealed copy to follow the new registration',
    });
  });

  it('keeps a copy of a newly registered cloud before it is ever used', async () => {
    await admin.json('PUT', '/v1/clouds/sim-b', 201, { body: openstack('password-b') });
    await waitFor(async () => (await sealedRows()).find((row) => row.name === 'sim-b'), { what: 'a sealed copy of sim-b' });
  });

  it('drops the copy when the cloud is removed', async () => {
    await admin.json('PUT', '/v1/clouds/sim-gone', 201, { body: openstack('password-gone') });
    await connections.get('sim-gone');
    await admin.json('DELETE', '/v1/clouds/sim-gone', 204);
    await waitFor(async () => ((await sealedRows()).some((row) => row.name === 'sim-gone') ? undefined : true), { what: 'the copy of sim-gone to be dropped' });
    await expect(connections.get('sim-gone')).rejects.toThrow(CloudNotRegistered);
  });

  it('works from its sealed copy while the registry is down, and catches up when it is back', async () => {
    await connections.get('sim-a');
    await stopRegistry();
    try {
      expect((await connections.get('sim-a')).provider).toBe('openstack');
      // An event about a change arrives while the registry cannot be asked: the copy goes stale but still serves.
      await connections.refresh('sim-a');
      expect((await sealedRows()).find((row) => row.name === 'sim-a')?.stale).toBe(true);
      expect(((await connections.get('sim-a')).credentials as { password: string }).password).toBe('second-password-a');
      await expect(connections.get('sim-never-seen')).rejects.toThrow(CloudConnectionUnavailable);
    } finally {
      await startRegistry();
    }
    // Not asked again before the retry delay has passed on the caller's clock…
    expect((await sealedRows()).find((row) => row.name === 'sim-a')?.stale).toBe(true);
    await connections.get('sim-a');
    expect((await sealedRows()).find((row) => row.name === 'sim-a')?.stale).toBe(true);
    // …then fetched afresh.
    now += 5_000;
    await connections.get('sim-a');
    expect((await sealedRows()).find((row) => row.name === 'sim-a')?.stale).toBe(false);
  });

  it('never keeps an older registration over a newer one', async () => {
    const { updatedAt } = await admin.json<{ updatedAt: string }>('GET', '/v1/clouds/sim-a/connection', 200);
    const earlier = new Date(Date.parse(updatedAt) - 60_000).toISOString();
    // A fetch that answered before the latest change but is kept after it.
    const older = createCloudConnections({
      db: caller.db,
      source: { fetch: (name) => Promise.resolve({ name, registration: { ...openstack('stale-password'), interface: 'public' as const, limits: { requestsPerSecond: 10, concurrency: 10 } }, updatedAt: earlier }) },
      secrets,
      logger: quiet,
    });
    await older.refresh('sim-a');
    expect(((await connections.get('sim-a')).credentials as { password: string }).password).toBe('second-password-a');
  });

  it('says the registry refused a wrong service token, without repeating the token', async () => {
    const wrong = registryConnectionSource({ registryUrl: `http://127.0.0.1:${registryConfig.port}`, serviceToken: 'not-the-service-token-0123' });
    const error = await wrong.fetch('sim-a').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CloudConnectionUnavailable);
    expect((error as Error).message).toMatch(/refused the service token \(HTTP 401\)/);
    expect((error as Error).message).not.toContain('not-the-service-token');
  });

  it('never writes credentials to either side\'s logs', () => {
    for (const secret of ['first-password-a', 'second-password-a', 'password-b', 'password-gone', SERVICE_TOKEN]) {
      expect(registryLogs.join('\n')).not.toContain(secret);
      expect(callerLogs.join('\n')).not.toContain(secret);
    }
    expect(callerLogs.join('\n')).toContain('cannot be fetched yet');
  });
});
