/**
 * The platform's database layer when PostgreSQL goes away: connections killed under their holders
 * (what a restart, a failover or a pooler's idle timeout does) and new ones refused for a while.
 * Nothing may crash the process, consumers must hold their messages instead of burning the
 * queue's delivery limit, and the outbox relay must publish every committed event once back.
 */
import { randomUUID } from 'node:crypto';
import { createDomainEvent, type DomainEvent } from '@defib/contracts';
import amqp from 'amqplib';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs, createIsolatedBus, createIsolatedDatabase, waitFor, type IsolatedBus, type IsolatedDatabase } from '../../../test/support/index.ts';
import { Bus, busNames, busTopology } from '../src/bus.ts';
import { DatabaseUnavailableError, isDatabaseUnavailable, retryWhileDatabaseUnavailable } from '../src/database-availability.ts';
import { createDatabase, listenForNotifications, migrateToLatest, type Database } from '../src/database.ts';
import { consumeDomainEvents } from '../src/event-consumer.ts';
import { enqueueEvents, handleOnce, OutboxRelay, platformMigrations, type PlatformTables } from '../src/outbox.ts';

const SCHEMA = 'outage_spec';

describe('the database layer through a database outage', () => {
  let isolated: IsolatedDatabase;
  let isolatedBus: IsolatedBus;
  let admin: pg.Client;
  let database: Database<PlatformTables>;
  let bus: Bus;
  const logs: string[] = [];
  const logger = captureLogs('outage-spec', logs);

  beforeAll(async () => {
    isolated = await createIsolatedDatabase();
    isolatedBus = createIsolatedBus();
    admin = new pg.Client({ connectionString: isolated.url.replace(`/${isolated.name}`, '/postgres') });
    await admin.connect();
    database = createDatabase<PlatformTables>({ url: isolated.url, schema: SCHEMA, logger });
    await migrateToLatest(database, platformMigrations, logger);
    bus = new Bus({ url: isolatedBus.url, prefix: isolatedBus.prefix, connectionName: 'outage-spec', logger });
    await bus.start();
  });

  afterAll(async () => {
    await reopen();
    await bus?.close();
    await database?.close();
    await admin?.end();
    await isolatedBus.cleanUp(busTopology(isolatedBus.prefix, ['outage-consumer', 'outage-relay']));
    await isolated?.drop();
  });

  const killConnections = () => admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [isolated.name]);
  /** Connections refused, and the open ones killed: an outage that lasts until `reopen`. */
  const takeDown = async () => {
    await admin.query(`alter database ${pg.escapeIdentifier(isolated.name)} allow_connections false`);
    await killConnections();
  };
  const reopen = () => admin?.query(`alter database ${pg.escapeIdentifier(isolated.name)} allow_connections true`);
  const linesMatching = (text: string) => logs.filter((line) => line.includes(text));

  it('reports a connection killed while checked out, once, and the pool replaces it', async () => {
    const held = await database.pool.connect();
    await killConnections();
    await waitFor(() => (linesMatching('a connection in use').length > 0 ? true : undefined), { what: 'the lost connection in use to be reported' });
    held.release();
    const lost = linesMatching('"msg":"database connection lost"');
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(lost.every((line) => line.includes('"level":"warn"') && line.includes(`"schema":"${SCHEMA}"`))).toBe(true);
    // Reported once per connection, though node-postgres raises two errors for it.
    expect(linesMatching('a connection in use')).toHaveLength(1);
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db);
    expect(rows).toEqual([{ one: 1 }]);
  });

  it('fails work that cannot get a connection with DatabaseUnavailableError, and works again once the database is back', async () => {
    await takeDown();
    try {
      // The first tries may still pick a pooled connection whose server just went: unavailable too.
      const failure = await waitFor(
        () => sql`select 1`.execute(database.db).then(() => { throw new Error('the query went through'); }, (error: unknown) => (error instanceof DatabaseUnavailableError ? error : (expect(isDatabaseUnavailable(error)).toBe(true), undefined))),
        { what: 'a query refused for want of a connection' },
      );
      expect(failure.code).toBe('55000'); // "database is not currently accepting connections"
      await expect(database.ping()).rejects.toBeInstanceOf(DatabaseUnavailableError);
    } finally {
      await reopen();
    }
    await waitFor(() => database.ping().then(() => true), { what: 'the database to answer again' });
  });

  it('holds a consumed event while the database is away instead of dead-lettering it, and handles it once when back', async () => {
    const handled: string[] = [];
    const attempts = new Map<string, number>();
    await consumeDomainEvents(bus, {
      consumer: 'outage-consumer',
      // A limit of 2: requeueing on every failed try would dead-letter each event at once.
      deliveryLimit: 2,
      logger,
      handlers: {
        'deployable.stop-requested': async (event) => {
          attempts.set(event.id, (attempts.get(event.id) ?? 0) + 1);
          await handleOnce(database.db, event, async () => {
            handled.push(event.id);
            await Promise.resolve();
          });
        },
      },
    });
    const events = Array.from({ length: 5 }, (): DomainEvent => createDomainEvent('deployable.stop-requested', { subject: { deployableId: randomUUID(), deployable: 'shop' }, data: { version: 1 }, correlationId: randomUUID() }));
    await takeDown();
    try {
      for (const event of events) await bus.publish({ id: event.id, routingKey: event.type, body: event, type: event.type });
      await waitFor(() => (events.every((event) => (attempts.get(event.id) ?? 0) >= 2) ? true : undefined), { what: 'every event to be tried while the database is away', timeoutMs: 15_000 });
      expect(handled).toEqual([]);
    } finally {
      await reopen();
    }
    await waitFor(() => (handled.length === events.length ? true : undefined), { what: 'every held event handled once the database is back', timeoutMs: 15_000 });
    expect(new Set(handled)).toEqual(new Set(events.map((event) => event.id)));
    expect(linesMatching('database unavailable; handling deployable.stop-requested').length).toBeGreaterThan(0);
    const connection = await amqp.connect(isolatedBus.url);
    try {
      const channel = await connection.createChannel();
      const deadLetters = await channel.checkQueue(busNames(isolatedBus.prefix).deadLetterQueue('outage-consumer'));
      expect(deadLetters.messageCount).toBe(0);
    } finally {
      await connection.close();
    }
  });

  it('publishes every committed event once the database is back, after its connections were killed mid-stream', async () => {
    const received = new Map<string, number>();
    await bus.consume({
      consumer: 'outage-relay',
      bindings: ['outage.#'],
      handle(message) {
        const { id } = JSON.parse(message.content.toString()) as { id: string };
        received.set(id, (received.get(id) ?? 0) + 1);
        return Promise.resolve('ack');
      },
    });
    const relay = new OutboxRelay({
      db: database.db,
      schema: SCHEMA,
      bus,
      logger,
      listen: (channel, onNotify) => listenForNotifications(database.pool, channel, onNotify, logger),
    });
    await relay.start();
    try {
      const committed: string[] = [];
      const commitOne = async () => {
        const event = { id: randomUUID(), type: 'outage.happened', correlationId: randomUUID() };
        await database.db.transaction().execute((trx) => enqueueEvents(trx, SCHEMA, [event]));
        committed.push(event.id);
      };
      // What a service does with work the outage interrupted: try it again once the database answers.
      const commitThroughOutage = () => retryWhileDatabaseUnavailable(commitOne, { logger, what: 'committing an event' });
      for (let index = 0; index < 20; index += 1) await commitOne();
      await takeDown();
      await expect(commitOne()).rejects.toSatisfy(isDatabaseUnavailable);
      const committing = commitThroughOutage();
      await reopen();
      await committing;
      for (let index = 0; index < 19; index += 1) await commitThroughOutage();
      await waitFor(() => (committed.every((id) => received.has(id)) ? true : undefined), { what: 'every committed event published', timeoutMs: 15_000 });
      expect(committed).toHaveLength(40);
      await waitFor(async () => ((await database.db.selectFrom('outbox').select('id').where('published_at', 'is', null).execute()).length === 0 ? true : undefined), {
        what: 'every published event marked sent',
      });
      // The LISTEN connection came back too: it was told of the outage and said so once back.
      await waitFor(() => (linesMatching('notification connection back').length > 0 ? true : undefined), { what: 'the LISTEN connection to come back' });
    } finally {
      await relay.stop();
    }
  });
});
