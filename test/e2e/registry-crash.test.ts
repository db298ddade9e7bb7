import type { DomainEvent } from '@defib/contracts';
import { wordpressManifest } from '@defib/contracts/testing';
import { Bus, busTopology, createDatabase, createLogger, type PlatformTables } from '@defib/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedBus, createIsolatedDatabase, serviceEnvironment, startServiceProcess, waitFor, type IsolatedBus, type IsolatedDatabase, type ServiceProcess } from '../support/index.ts';

const ADMIN_TOKEN = 'admin-token-crash-test-0123';
const quiet = createLogger({ service: 'crash-test', level: 'silent' });

describe('registry killed with SIGKILL', () => {
  let database: IsolatedDatabase;
  let bus: IsolatedBus;
  let spy: Bus;
  let registry: ServiceProcess | undefined;
  const deliveries = new Map<string, number>();
  const applied = new Map<string, Set<string>>();
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    bus = createIsolatedBus();
    env = serviceEnvironment(database, bus, ADMIN_TOKEN);
    spy = new Bus({ url: bus.url, prefix: bus.prefix, connectionName: 'crash-spy', logger: quiet });
    await spy.start();
    await spy.consume({
      consumer: 'spy',
      bindings: ['deployable.applied'],
      handle(message) {
        const event = JSON.parse(message.content.toString('utf8')) as Extract<DomainEvent, { type: 'deployable.applied' }>;
        deliveries.set(event.id, (deliveries.get(event.id) ?? 0) + 1);
        const ids = applied.get(event.subject.deployable) ?? new Set<string>();
        ids.add(event.id);
        applied.set(event.subject.deployable, ids);
        return Promise.resolve('ack');
      },
    });
  });

  afterAll(async () => {
    await registry?.kill('SIGTERM');
    await spy?.close();
    await bus.cleanUp(busTopology(bus.prefix, ['registry', 'spy']));
    await database?.drop();
  });

  function put(url: string, path: string, body: unknown) {
    return fetch(`${url}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  it('loses no committed change and announces each exactly once after restart', async () => {
    registry = await startServiceProcess('registry', env);
    expect((await put(registry.url, '/v1/clouds/sim-openstack', { provider: 'ec2', endpoint: 'http://127.0.0.1:7200/ec2/', region: 'us-east-1', credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret-key-value' } })).status).toBe(201);

    // Fire applies continuously and kill the process while they are in flight.
    const target = registry.url;
    const attempts = Array.from({ length: 60 }, (_, index) => `app-${index}`);
    const inFlight = attempts.map((name, index) =>
      new Promise((resolve) => setTimeout(resolve, index * 3)).then(() => put(target, `/v1/deployables/${name}`, wordpressManifest({ name })).then((response) => response.status, () => 'connection lost')),
    );
    await waitFor(() => (applied.size >= 5 ? true : undefined), { what: 'a few applies to be announced', timeoutMs: 10_000 });
    expect(await registry.kill('SIGKILL')).toBeNull();
    const outcomes = await Promise.all(inFlight);
    expect(outcomes).toContain(201);

    // The kill landed mid-work: with the process dead, its outbox still holds rows it never
    // marked sent (some perhaps published already), or the kill cut requests off, or both.
    const atKill = createDatabase<PlatformTables>({ url: database.url, schema: 'registry', logger: quiet });
    const unpublishedAtKill = await atKill.db.selectFrom('outbox').select('id').where('type', '=', 'deployable.applied').where('published_at', 'is', null).execute().finally(() => atKill.close());
    const interrupted = outcomes.filter((outcome) => outcome === 'connection lost').length;
    expect({ unpublishedAtKill: unpublishedAtKill.length, interrupted }).not.toEqual({ unpublishedAtKill: 0, interrupted: 0 });
    const unmarked = new Set(unpublishedAtKill.map((row) => row.id));

    registry = await startServiceProcess('registry', env);
    const reader = createDatabase<PlatformTables & { deployables: { name: string } }>({ url: database.url, schema: 'registry', logger: quiet });
    try {
      await waitFor(
        async () => {
          const pending = await reader.db.selectFrom('outbox').select('id').where('published_at', 'is', null).execute();
          return pending.length === 0 ? true : undefined;
        },
        { what: 'the outbox to drain after restart', timeoutMs: 15_000 },
      );
      const stored = (await reader.db.selectFrom('deployables').select('name').execute()).map((row) => row.name).sort();
      // every apply the client saw succeed is stored
      attempts.forEach((name, index) => {
        if (outcomes[index] === 201) expect(stored).toContain(name);
      });
      // every stored deployable was announced by exactly one event, and nothing that was not stored was announced
      await waitFor(() => (stored.every((name) => applied.has(name)) ? true : undefined), { what: 'every stored deployable announced', timeoutMs: 15_000 });
      expect([...applied.keys()].sort()).toEqual(stored);
      expect(stored.filter((name) => applied.get(name)?.size !== 1)).toEqual([]);
      // What arrived, counted: every announcement once, except those the dead process may have
      // published without marking them sent, which may arrive twice and no more.
      await waitFor(() => ([...unmarked].every((id) => deliveries.has(id)) ? true : undefined), { what: 'the rows unmarked at the kill to be published', timeoutMs: 15_000 });
      const counts = [...deliveries.entries()];
      expect(counts.filter(([id, count]) => count !== 1 && !(unmarked.has(id) && count === 2))).toEqual([]);
      expect(deliveries.size).toBe(stored.length);
    } finally {
      await reader.close();
    }
  });
});
