/**
 * Turns consumed events into deliveries. Runs inside the inbox transaction (`handleOnce`), so an
 * event creates its deliveries exactly once however often the bus delivers it, and a crash before
 * the commit leaves the message unacknowledged for another try. Each matching subscription target
 * gets the event on its own, or in a group (an email digest, or a storm-control batch).
 */
import { randomUUID } from 'node:crypto';
import type { DomainEvent } from '@defib/contracts';
import { eventTypes } from '@defib/contracts';
import type { InboxHandlers } from '@defib/platform';
import { sql, type Transaction } from 'kysely';
import { routeEvent, type BucketState, type RateLimit } from './storm-control.ts';
import { effectiveRateLimit } from './subscriptions.ts';
import { subscriptionRepository } from './subscription.repository.ts';
import { groupKeyOf, matchesFilter } from './subscription-matching.ts';
import type { NotifierTables, SubscriptionRow } from './tables.ts';

/** The Postgres channel workers listen on for new or changed deliveries. */
export const DELIVERIES_CHANNEL = 'notifier_deliveries';

type Trx = Transaction<NotifierTables>;

export interface IntakeSettings {
  defaultRateLimit: RateLimit;
  groupMaxEvents: number;
  clock: () => Date;
}

/** What an event led to, for metrics and tests. */
export interface IntakeResult {
  subscriptions: number;
  single: number;
  grouped: number;
}

/** Serialises storm-control decisions for one subscription target until the transaction ends. */
async function lockTarget(trx: Trx, subscriptionId: string, target: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`storm:${subscriptionId}:${target}`}, 0))`.execute(trx);
}

async function takeBucket(trx: Trx, subscriptionId: string, target: string): Promise<BucketState | undefined> {
  const row = await trx
    .selectFrom('storm_buckets')
    .select(['tokens', 'refilled_at'])
    .where('subscription_id', '=', subscriptionId)
    .where('target', '=', target)
    .forUpdate()
    .executeTakeFirst();
  return row === undefined ? undefined : { tokens: row.tokens, refilledAt: row.refilled_at };
}

async function storeBucket(trx: Trx, subscriptionId: string, target: string, bucket: BucketState): Promise<void> {
  await trx
    .insertInto('storm_buckets')
    .values({ subscription_id: subscriptionId, target, tokens: bucket.tokens, refilled_at: bucket.refilledAt })
    .onConflict((conflict) => conflict.columns(['subscription_id', 'target']).doUpdateSet({ tokens: bucket.tokens, refilled_at: bucket.refilledAt }))
    .execute();
}

async function hasOpenGroup(trx: Trx, subscriptionId: string, target: string, groupKey: string): Promise<boolean> {
  const row = await trx
    .selectFrom('deliveries')
    .select('id')
    .where('subscription_id', '=', subscriptionId)
    .where('target', '=', target)
    .where('group_key', '=', groupKey)
    .where('mode', '=', 'group')
    .where('sealed_at', 'is', null)
    .executeTakeFirst();
  return row !== undefined;
}

/** Joins the open group of this target and topic, or opens one due in `windowMs`; a full group is sealed and due at once. */
async function joinGroup(trx: Trx, subscription: SubscriptionRow, target: string, groupKey: string, windowMs: number, maxEvents: number): Promise<string> {
  const full = sql<boolean>`deliveries.event_count + 1 >= ${maxEvents}`;
  const row = await trx
    .insertInto('deliveries')
    .values({
      id: randomUUID(),
      subscription_id: subscription.id,
      channel: subscription.kind,
      target,
      mode: 'group',
      group_key: groupKey,
      event_count: 1,
      status: 'pending',
      next_attempt_at: sql<Date>`clock_timestamp() + ${windowMs} * interval '1 millisecond'`,
    })
    .onConflict((conflict) =>
      conflict
        .columns(['subscription_id', 'target', 'group_key'])
        .where(sql<boolean>`mode = 'group' and sealed_at is null`)
        .doUpdateSet({
          event_count: sql<number>`deliveries.event_count + 1`,
          sealed_at: sql<Date | null>`case when ${full} then clock_timestamp() else null end`,
          next_attempt_at: sql<Date>`case when ${full} then clock_timestamp() else deliveries.next_attempt_at end`,
          updated_at: sql<Date>`clock_timestamp()`,
        }),
    )
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** A delivery of one event, due now, with its event link, in one statement. */
async function createSingle(trx: Trx, subscription: SubscriptionRow, target: string, eventId: string): Promise<void> {
  const id = randomUUID();
  await trx
    .with('created', (db) =>
      db
        .insertInto('deliveries')
        .values({
          id,
          subscription_id: subscription.id,
          channel: subscription.kind,
          target,
          mode: 'single',
          event_count: 1,
          status: 'pending',
          next_attempt_at: sql<Date>`clock_timestamp()`,
          sealed_at: sql<Date>`clock_timestamp()`,
        })
        .returning('id'),
    )
    .insertInto('delivery_events')
    .columns(['delivery_id', 'event_id', 'subscription_id', 'target'])
    .expression((eb) =>
      eb
        .selectFrom('created')
        .select(['created.id', sql<string>`${eventId}::uuid`.as('event_id'), sql<string>`${subscription.id}::uuid`.as('subscription_id'), sql<string>`${target}::text`.as('target')]),
    )
    .execute();
}

/** Creates the deliveries of one event in `trx`. */
export async function takeInEvent(trx: Trx, event: DomainEvent, settings: IntakeSettings): Promise<IntakeResult> {
  const result: IntakeResult = { subscriptions: 0, single: 0, grouped: 0 };
  const subscriptions = (await subscriptionRepository.listEnabled(trx)).filter((row) =>
    matchesFilter({ eventTypes: row.event_types, deployables: row.deployables }, event),
  );
  if (subscriptions.length === 0) return result;
  result.subscriptions = subscriptions.length;
  await trx
    .insertInto('events')
    .values({ id: event.id, type: event.type, occurred_at: new Date(event.occurredAt), envelope: JSON.stringify(event) })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute();
  const now = settings.clock();
  for (const subscription of subscriptions) {
    const targets = subscription.kind === 'webhook' ? [''] : subscription.recipients;
    const groupKey = subscription.kind === 'email' ? groupKeyOf(event) : '';
    const limit = effectiveRateLimit(subscription, settings.defaultRateLimit);
    for (const target of targets) {
      const consultsBucket = subscription.digest_window_ms === 0 && limit !== null;
      // Events are taken in concurrently: the bucket and open-group decisions for one target must
      // be made one event at a time, or a storm's first events all see a full bucket.
      if (consultsBucket) await lockTarget(trx, subscription.id, target);
      const groupOpen = consultsBucket ? await hasOpenGroup(trx, subscription.id, target, groupKey) : false;
      const bucket = consultsBucket && !groupOpen ? await takeBucket(trx, subscription.id, target) : undefined;
      const decision = routeEvent({ limit, digestWindowMs: subscription.digest_window_ms, groupOpen, bucket, now: consultsBucket ? settings.clock() : now });
      if (consultsBucket && !groupOpen && decision.bucket !== undefined) await storeBucket(trx, subscription.id, target, decision.bucket);
      // The unique (subscription, target, event) in delivery_events backs the inbox: one delivery per event and target.
      if (decision.routing.mode === 'single') {
        await createSingle(trx, subscription, target, event.id);
        result.single += 1;
      } else {
        const deliveryId = await joinGroup(trx, subscription, target, groupKey, decision.routing.windowMs, settings.groupMaxEvents);
        await trx.insertInto('delivery_events').values({ delivery_id: deliveryId, event_id: event.id, subscription_id: subscription.id, target }).execute();
        result.grouped += 1;
      }
    }
  }
  await sql`select pg_notify(${DELIVERIES_CHANNEL}, '')`.execute(trx);
  return result;
}

/** A handler for every catalogued event type (the notifier is interested in all of them), each run in the inbox transaction. */
export function intakeHandlers(settings: IntakeSettings): InboxHandlers<NotifierTables, IntakeResult> {
  const handle = (event: DomainEvent, trx: Trx) => takeInEvent(trx, event, settings);
  return Object.fromEntries(eventTypes.map((type) => [type, handle]));
}
