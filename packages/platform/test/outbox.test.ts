import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedBus, createIsolatedDatabase, waitFor, type IsolatedBus, type IsolatedDatabase } from '../../../test/support/index.ts';
import type { BrokerConnection } from '../src/broker-connection.ts';
import { Bus, busNames, busTopology } from '../src/bus.ts';
import { createDatabase, listenForNotifications, migrateToLatest, type Database } from '../src/database.ts';
import { createLogger } from '../src/logger.ts';
import { enqueueEvents, handleOnce, OutboxRelay, platformMigrations, type PlatformTables } from '../src/outbox.ts';

const logger = createLogger({ service: 'platform-test', level: 'silent' });
const SCHEMA = 'outbox_spec';

interface Received {
  id: string;
  type: string;
  deliveries: number;
}

describe('transactional outbox and inbox', () => {
  let isolatedDatabase: IsolatedDatabase;
  let isolatedBus: IsolatedBus;
  let database: Database<PlatformTables>;
  let bus: Bus;
  const received = new Map<string, Received>();
  const effects: string[] = [];

  function event(type = 'thing.happened') {
    return { id: randomUUID(), type, correlationId: randomUUID(), data: { n: Math.random() } };
  }

  async function commit(events: ReturnType<typeof event>[]) {
    await database.db.transaction().execute((trx) => enqueueEvents(trx, SCHEMA, events));
  }

  function newRelay() {
    return new OutboxRelay({
      db: database.db,
      schema: SCHEMA,
      bus,
      logger,
      pollIntervalMs: 50,
      listen: (channel, onNotify) => listenForNotifications(database.pool, channel, onNotify, logger),
    });
  }

  beforeAll(async () => {
    isolatedDatabase = await createIsolatedDatabase();
    isolatedBus = createIsolatedBus();
    database = createDatabase<PlatformTables>({ url: isolatedDatabase.url, schema: SCHEMA, logger });
    await migrateToLatest(database, platformMigrations, logger);
    bus = new Bus({ url: isolatedBus.url, prefix: isolatedBus.prefix, connectionName: 'outbox-spec', logger });
    await bus.start();
    await bus.consume({
      consumer: 'spec',
      bindings: ['#'],
      deliveryLimit: 3,
      async handle(message) {
        const body = JSON.parse(message.content.toString()) as { id: string; type: string };
        if (body.type === 'poison.pill') return 'dead-letter';
        if (body.type === 'always.fails') throw new Error('handler keeps failing');
        await handleOnce(database.db, body, async () => {
          effects.push(body.id);
          await Promise.resolve();
        });
        // counted once handled, so a test that sees N deliveries knows all N went through the inbox
        const seen = received.get(body.id);
        received.set(body.id, { id: body.id, type: body.type, deliveries: (seen?.deliveries ?? 0) + 1 });
        return 'ack';
      },
    });
  });

  afterAll(async () => {
    await bus?.close();
    await database?.close();
    await isolatedBus.cleanUp(busTopology(isolatedBus.prefix, ['spec']));
    await isolatedDatabase?.drop();
  });

  it('publishes an event committed with its state change, once, and marks it sent', async () => {
    const relay = newRelay();
    await relay.start();
    try {
      const committed = event();
      await commit([committed]);
      await waitFor(() => received.get(committed.id), { what: 'the committed event' });
      const row = await waitFor(async () => {
        const found = await database.db.selectFrom('outbox').selectAll().where('id', '=', committed.id).executeTakeFirstOrThrow();
        return found.published_at === null ? undefined : found;
      });
      expect(row.published_at).toBeInstanceOf(Date);
      expect(received.get(committed.id)?.deliveries).toBe(1);
    } finally {
      await relay.stop();
    }
  });

  it('publishes nothing for a transaction that rolled back', async () => {
    const doomed = event();
    const marker = event();
    await expect(
      database.db.transaction().execute(async (trx) => {
        await enqueueEvents(trx, SCHEMA, [doomed]);
        throw new Error('state change failed');
      }),
    ).rejects.toThrow('state change failed');
    const relay = newRelay();
    await relay.start();
    try {
      await commit([marker]);
      await waitFor(() => received.get(marker.id), { what: 'the marker event' });
      expect(received.has(doomed.id)).toBe(false);
    } finally {
      await relay.stop();
    }
  });

  it('publishes after a restart what a crashed process committed but never sent', async () => {
    const stranded = [event(), event(), event()];
    await commit(stranded); // no relay running: the process "died" between commit and publish
    const pending = await database.db.selectFrom('outbox').select('id').where('published_at', 'is', null).execute();
    expect(pending.map((row) => row.id)).toEqual(expect.arrayContaining(stranded.map((e) => e.id)));

    const relay = newRelay();
    await relay.start();
    try {
      for (const e of stranded) await waitFor(() => received.get(e.id), { what: `stranded event ${e.id}` });
      expect(stranded.map((e) => received.get(e.id)?.deliveries)).toEqual([1, 1, 1]);
      expect(effects.filter((id) => stranded.some((e) => e.id === id))).toHaveLength(3);
    } finally {
      await relay.stop();
    }
  });

  it('lets several relays run together without publishing an event twice', async () => {
    const many = Array.from({ length: 200 }, () => event());
    await commit(many);
    const relays = [newRelay(), newRelay(), newRelay()];
    await Promise.all(relays.map((relay) => relay.start()));
    try {
      await waitFor(() => (many.every((e) => received.has(e.id)) ? true : undefined), { what: 'all 200 events', timeoutMs: 20_000 });
      expect(many.filter((e) => received.get(e.id)?.deliveries !== 1)).toEqual([]);
    } finally {
      await Promise.all(relays.map((relay) => relay.stop()));
    }
  });

  it('gives a redelivered event no second effect', async () => {
    const once = event();
    await bus.publish({ id: once.id, routingKey: once.type, body: once });
    await bus.publish({ id: once.id, routingKey: once.type, body: once });
    await waitFor(() => (received.get(once.id)?.deliveries === 2 ? true : undefined), { what: 'both deliveries' });
    expect(effects.filter((id) => id === once.id)).toHaveLength(1);
  });

  it('dead-letters a poison message and one that keeps failing past the delivery limit', async () => {
    const poison = event('poison.pill');
    const failing = event('always.fails');
    await bus.publish({ id: poison.id, routingKey: poison.type, body: poison });
    await bus.publish({ id: failing.id, routingKey: failing.type, body: failing });
    const connection = await amqp.connect(isolatedBus.url);
    try {
      const channel = await connection.createChannel();
      const deadLetterQueue = busNames(isolatedBus.prefix).deadLetterQueue('spec');
      const dead = new Set<string>();
      await waitFor(
        async () => {
          const message = await channel.get(deadLetterQueue, { noAck: true });
          if (message !== false) dead.add((JSON.parse(message.content.toString()) as { id: string }).id);
          return dead.has(poison.id) && dead.has(failing.id) ? true : undefined;
        },
        { what: 'both messages in the dead-letter queue', timeoutMs: 20_000 },
      );
    } finally {
      await connection.close();
    }
  });

  it('reconnects after losing the broker connection and publishes again', async () => {
    const { broker } = bus as unknown as { broker: BrokerConnection };
    broker.socket?.destroy(new Error('simulated network failure'));
    await waitFor(() => (bus.connected ? undefined : true), { what: 'the bus to notice the lost connection' });
    const afterwards = event();
    await bus.publish({ id: afterwards.id, routingKey: afterwards.type, body: afterwards });
    await waitFor(() => received.get(afterwards.id), { what: 'the event published after reconnecting' });
  });
});
