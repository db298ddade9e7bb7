/**
 * The outbox's one crash window that publishes twice: after the broker confirmed an event and
 * before its row is marked sent. A relay that dies there publishes the event again when it comes
 * back; the consumer's inbox must absorb the copy, end to end. Here a producer's relay dies at
 * exactly that point once (its marking transaction rolls back, as a killed process's would), and
 * a real notifier consumes both copies: one delivery, one webhook request.
 */
import { randomUUID } from 'node:crypto';
import { Bus, createDatabase, createLogger, enqueueEvents, migrateToLatest, OutboxRelay, platformMigrations, type Database, type PlatformTables } from '@defib/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemblyFailed, deliveryOf, startNotifier, world, type NotifierHarness, type SubscriptionBody } from '../../services/notifier/test/notifier-harness.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../services/notifier/test/webhook-receiver.ts';
import { waitFor } from '../support/index.ts';

const logger = createLogger({ service: 'producer', level: 'silent' });

describe('a relay that dies between the broker’s ack and marking the event sent', () => {
  let notifier: NotifierHarness;
  let receiver: WebhookReceiver;
  let producer: Database<PlatformTables>;
  let bus: Bus;
  let relay: OutboxRelay | undefined;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    notifier = await startNotifier();
    producer = createDatabase<PlatformTables>({ url: notifier.config.databaseUrl, schema: 'producer', logger });
    await migrateToLatest(producer, platformMigrations, logger);
    bus = new Bus({ url: notifier.config.amqpUrl, prefix: notifier.config.busPrefix, connectionName: 'test-producer', logger });
    await bus.start();
  });

  afterAll(async () => {
    await relay?.stop();
    await bus?.close();
    await producer?.close();
    await notifier?.close();
    await receiver?.close();
  });

  const enqueue = (...events: { id: string; type: string }[]) => producer.db.transaction().execute((trx) => enqueueEvents(trx, 'producer', events));
  const arrivals = (id: string) => notifier.events.filter((event) => event.id === id).length;

  it('publishes the event again after the crash, and the consumer acts on it once', async () => {
    const subscription = await notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, {
      body: { kind: 'webhook', url: `${receiver.url}/once`, eventTypes: ['assembly.failed'], rateLimit: null },
    });
    const event = assemblyFailed(world.wordpress, `i-${randomUUID()}`);
    await enqueue(event);
    const crashedWith: string[][] = [];
    relay = new OutboxRelay({
      db: producer.db,
      schema: 'producer',
      bus,
      logger,
      pollIntervalMs: 50,
      beforeMarkingSent(ids) {
        if (crashedWith.length > 0) return;
        crashedWith.push([...ids]);
        throw new Error('the relay died after the broker confirmed the batch');
      },
    });
    await relay.start();

    await waitFor(() => (arrivals(event.id) === 2 ? true : undefined), { what: 'the event to be published a second time' });
    expect(crashedWith).toEqual([[event.id]]);
    // An event published after the copy, through the same relay and channel, is consumed after it.
    const after = assemblyFailed(world.wordpress, `i-${randomUUID()}`);
    await enqueue(after);
    await waitFor(() => receiver.requests.find((request) => request.path === '/once' && request.body.includes(after.id)), { what: 'the later event to be delivered' });

    const carried = receiver.requests.filter((request) => request.path === '/once' && request.body.includes(event.id));
    expect(carried).toHaveLength(1);
    const delivered = await deliveryOf(notifier, subscription.id, (delivery) => delivery.events.some((carriedEvent) => carriedEvent.id === event.id) && delivery.status === 'delivered', 'the delivery');
    expect(carried[0]?.headers['webhook-id']).toBe(delivered.id);
    const page = await notifier.json<{ items: { events: { id: string }[] }[] }>('GET', `/v1/deliveries?subscription=${subscription.id}`, 200);
    expect(page.items.filter((delivery) => delivery.events.some((carriedEvent) => carriedEvent.id === event.id))).toHaveLength(1);
    const rows = await producer.db.selectFrom('outbox').select(['id', 'published_at']).execute();
    expect(rows.every((row) => row.published_at !== null)).toBe(true);
    expect(arrivals(event.id)).toBe(2);
    expect(arrivals(after.id)).toBe(1);
  });
});
