import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { waitFor } from '../../../test/support/index.ts';
import { deliveryRepository } from '../src/delivery.repository.ts';
import { assemblyFailed, deliveryOf, startNotifier, type NotifierHarness, type SubscriptionBody } from './notifier-harness.ts';
import { answer, startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

describe('durable delivery', () => {
  let notifier: NotifierHarness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    notifier = await startNotifier({ retry: { attempts: 5, initialDelayMs: 1_200, multiplier: 1, maxDelayMs: 5_000, jitter: 0 } });
  });

  afterAll(async () => {
    await notifier?.close();
    await receiver?.close();
  });

  const requestsTo = (path: string) => receiver.requests.filter((request) => request.path === path);
  const subscribe = (path: string) =>
    notifier.json<SubscriptionBody>('POST', '/v1/subscriptions', 201, { body: { kind: 'webhook', url: `${receiver.url}${path}`, eventTypes: ['assembly.failed'], rateLimit: null } });

  it('resumes the persisted retry schedule in a new notifier after the first one stopped mid-retry', async () => {
    receiver.script('/resume', [answer.status(500)]);
    const subscription = await subscribe('/resume');
    await notifier.publish(assemblyFailed());
    const waiting = await deliveryOf(notifier, subscription.id, (delivery) => delivery.attempts.length === 1 && delivery.status === 'pending', 'the first failed attempt');
    const dueAt = Date.parse(waiting.nextAttemptAt ?? '');
    expect(dueAt).toBeGreaterThan(Date.parse(waiting.attempts[0]?.startedAt ?? '') + 1_000);
    await notifier.restart();
    const delivered = await deliveryOf(notifier, subscription.id, (delivery) => delivery.status === 'delivered', 'delivery by the new notifier');
    expect(delivered.attempts.map((attempt) => attempt.statusCode)).toEqual([500, 200]);
    const [first, second] = requestsTo('/resume');
    expect(second?.receivedAt).toBeGreaterThanOrEqual(dueAt - 50);
    expect(second?.headers['webhook-id']).toBe(first?.headers['webhook-id']);
    const workers = await notifier.service.kernel.database.db.selectFrom('attempts').select('worker').where('delivery_id', '=', delivered.id).orderBy('number').execute();
    expect(new Set(workers.map((row) => row.worker)).size).toBe(2);
  });

  it('retries a delivery whose worker died holding it once the lease expires, and not before', async () => {
    receiver.script('/lease', [answer.status(500)]);
    const subscription = await subscribe('/lease');
    await notifier.publish(assemblyFailed());
    const waiting = await deliveryOf(notifier, subscription.id, (delivery) => delivery.attempts.length === 1 && delivery.status === 'pending', 'the first failed attempt');
    // Another replica claims it, due now, and dies mid-attempt: only its lease says so.
    const { db } = notifier.service.kernel.database;
    await db
      .updateTable('deliveries')
      .set({ next_attempt_at: sql<Date>`clock_timestamp()`, locked_until: sql<Date>`clock_timestamp() + interval '1500 milliseconds'`, lease_token: crypto.randomUUID(), locked_by: 'crashed-replica' })
      .where('id', '=', waiting.id)
      .execute();
    const claimedAt = Date.now();
    const delivered = await deliveryOf(notifier, subscription.id, (delivery) => delivery.status === 'delivered', 'delivery after the lease expired');
    expect(delivered.attempts).toHaveLength(2);
    expect(Date.parse(delivered.attempts[1]?.startedAt ?? '')).toBeGreaterThanOrEqual(claimedAt + 1_300);
    expect(requestsTo('/lease')).toHaveLength(2);
  });

  it('prunes finished deliveries past retention, with their attempts and events, and keeps pending ones', async () => {
    const { db } = notifier.service.kernel.database;
    receiver.script('/pruned', []);
    const subscription = await subscribe('/pruned');
    await notifier.publish(assemblyFailed());
    const delivered = await deliveryOf(notifier, subscription.id, (delivery) => delivery.status === 'delivered', 'a delivery to prune');
    // With the worker stopped nothing pending can finish meanwhile (and be pruned as finished).
    const { worker } = notifier.service;
    await worker.stop();
    let pending: { id: string }[];
    let stillPending: { id: string }[];
    let removed: number;
    try {
      const waiting = await subscribe('/pruned-later');
      await notifier.publish(assemblyFailed());
      await waitFor(() => db.selectFrom('deliveries').select('id').where('subscription_id', '=', waiting.id).where('status', '=', 'pending').executeTakeFirst(), { what: 'a pending delivery' });
      pending = await db.selectFrom('deliveries').select('id').where('status', '=', 'pending').execute();
      removed = await deliveryRepository.prune(db, 0);
      stillPending = await db.selectFrom('deliveries').select('id').where('status', '=', 'pending').execute();
    } finally {
      worker.start();
    }
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(await db.selectFrom('deliveries').select('id').where('id', '=', delivered.id).executeTakeFirst()).toBeUndefined();
    expect(await db.selectFrom('attempts').select('id').where('delivery_id', '=', delivered.id).executeTakeFirst()).toBeUndefined();
    expect(await db.selectFrom('events').select('id').where('id', '=', delivered.events[0]?.id ?? '').executeTakeFirst()).toBeUndefined();
    expect(pending.length).toBeGreaterThanOrEqual(1);
    expect(stillPending.map((row) => row.id).sort()).toEqual(pending.map((row) => row.id).sort());
  });

  it('delivers each notification once with two replicas running side by side', async () => {
    receiver.script('/once', [], { kind: 'status', status: 200, delayMs: 40 });
    const subscription = await subscribe('/once');
    await notifier.replica();
    const events = Array.from({ length: 60 }, (_, index) => assemblyFailed(undefined, `i-once-${index}`));
    await Promise.all(events.map((event) => notifier.publish(event)));
    // The bus may deliver an event twice (a relay crashing between publish and mark): still one delivery.
    await notifier.publish(events[0]!);
    await waitFor(
      async () => {
        const rows = await notifier.service.kernel.database.db.selectFrom('deliveries').select('id').where('subscription_id', '=', subscription.id).where('status', '=', 'delivered').execute();
        return rows.length === 60 ? true : undefined;
      },
      { what: '60 deliveries', timeoutMs: 15_000 },
    );
    const ids = requestsTo('/once').map((request) => request.headers['webhook-id']);
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(60);
    const workers = await notifier.service.kernel.database.db
      .selectFrom('attempts')
      .innerJoin('deliveries', 'deliveries.id', 'attempts.delivery_id')
      .select('attempts.worker')
      .where('deliveries.subscription_id', '=', subscription.id)
      .execute();
    expect(workers).toHaveLength(60);
    expect(new Set(workers.map((row) => row.worker)).size).toBe(2);
  });
});
