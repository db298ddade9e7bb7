/**
 * Stored deliveries and attempts. Workers claim due deliveries with `FOR UPDATE SKIP LOCKED` and a
 * lease (`locked_until`, `lease_token`): two replicas never claim the same delivery, and a crashed
 * worker's claim expires so another one retries it. Outcomes are written only under the lease that
 * was claimed.
 */
import { randomUUID } from 'node:crypto';
import type { DomainEvent } from '@defib/contracts';
import { sql, type Kysely } from 'kysely';
import type { PagePosition } from '@defib/platform';
import type { AttemptRow, DeliveryChannel, DeliveryEventRow, DeliveryRow, DeliveryStatus, FailureReason, NewAttempt, NewEvent, NotifierTables } from './tables.ts';

export type Executor = Kysely<NotifierTables>;

/** The Postgres channel workers listen on for new or changed deliveries. */
export const DELIVERIES_CHANNEL = 'notifier_deliveries';

const ms = (value: number) => sql<Date>`clock_timestamp() + ${value} * interval '1 millisecond'`;

/** Which subscription target a new delivery is for. */
export interface DeliveryTarget {
  subscriptionId: string;
  channel: DeliveryChannel;
  /** The recipient for email; empty for webhooks. */
  target: string;
}

/** The columns every delivery of one or more events to `to` starts with. */
function freshDelivery(to: DeliveryTarget) {
  return { id: randomUUID(), subscription_id: to.subscriptionId, channel: to.channel, target: to.target, event_count: 1, status: 'pending' as const };
}

/** What an attempt changed, written under the lease that claimed the delivery (which it releases). */
export interface DeliveryOutcome {
  /** Every attempt ever made, this one included. */
  attempts: number;
  /** Attempts in the current schedule, this one included. */
  scheduleAttempts: number;
  status: DeliveryStatus;
  /** Pending: when the next attempt falls due. */
  retryInMs: number | undefined;
  lastError: string | null;
  lastStatusCode: number | null;
  failureReason: FailureReason | null;
}

export interface DeliveryFilter {
  subscriptionId?: string | undefined;
  status?: DeliveryStatus | undefined;
  eventType?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Rows before this (created_at, id): newest first. */
  before?: PagePosition | undefined;
  limit: number;
}

export const deliveryRepository = {
  /** Wakes the workers listening on {@link DELIVERIES_CHANNEL} once the transaction commits. */
  async announce(db: Executor): Promise<void> {
    await sql`select pg_notify(${DELIVERIES_CHANNEL}, '')`.execute(db);
  },

  /** Keeps a consumed event (the event log, and what deliveries carry); an event already kept stays as it is. */
  async storeEvent(db: Executor, event: NewEvent): Promise<void> {
    await db
      .insertInto('events')
      .values(event)
      .onConflict((conflict) => conflict.column('id').doNothing())
      .execute();
  },

  /** Whether the target has a group on `groupKey` still taking events. */
  async hasOpenGroup(db: Executor, to: Omit<DeliveryTarget, 'channel'>, groupKey: string): Promise<boolean> {
    const row = await db
      .selectFrom('deliveries')
      .select('id')
      .where('subscription_id', '=', to.subscriptionId)
      .where('target', '=', to.target)
      .where('group_key', '=', groupKey)
      .where('mode', '=', 'group')
      .where('sealed_at', 'is', null)
      .executeTakeFirst();
    return row !== undefined;
  },

  /**
   * Counts one more event into the target's open group on `groupKey`, or opens one due in
   * `windowMs`; the group's `maxEvents`-th event seals it and makes it due at once. Returns its id.
   */
  async joinGroup(db: Executor, to: DeliveryTarget, group: { groupKey: string; windowMs: number; maxEvents: number }): Promise<string> {
    const full = sql<boolean>`deliveries.event_count + 1 >= ${group.maxEvents}`;
    const row = await db
      .insertInto('deliveries')
      .values({ ...freshDelivery(to), mode: 'group', group_key: group.groupKey, next_attempt_at: ms(group.windowMs) })
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
  },

  /** Links an event to the delivery that carries it (unique per subscription, target and event). */
  async addEvent(db: Executor, link: DeliveryEventRow): Promise<void> {
    await db.insertInto('delivery_events').values(link).execute();
  },

  /** A delivery of one event, due now, with its event link, in one statement. */
  async createSingle(db: Executor, to: DeliveryTarget, eventId: string): Promise<void> {
    await db
      .with('created', (cte) =>
        cte
          .insertInto('deliveries')
          .values({ ...freshDelivery(to), mode: 'single', next_attempt_at: sql<Date>`clock_timestamp()`, sealed_at: sql<Date>`clock_timestamp()` })
          .returning('id'),
      )
      .insertInto('delivery_events')
      .columns(['delivery_id', 'event_id', 'subscription_id', 'target'])
      .expression((eb) =>
        eb
          .selectFrom('created')
          .select(['created.id', sql<string>`${eventId}::uuid`.as('event_id'), sql<string>`${to.subscriptionId}::uuid`.as('subscription_id'), sql<string>`${to.target}::text`.as('target')]),
      )
      .execute();
  },

  /** A message from Defib itself to `recipient`, due now. */
  async createNotice(db: Executor, notice: { id: string; subscriptionId: string; recipient: string; content: { subject: string; text: string; html: string } }): Promise<void> {
    await db
      .insertInto('deliveries')
      .values({
        id: notice.id,
        subscription_id: notice.subscriptionId,
        channel: 'email',
        target: notice.recipient,
        mode: 'notice',
        notice: JSON.stringify(notice.content),
        status: 'pending',
        next_attempt_at: sql<Date>`clock_timestamp()`,
        sealed_at: sql<Date>`clock_timestamp()`,
      })
      .execute();
  },

  async recordAttempt(db: Executor, attempt: NewAttempt): Promise<void> {
    await db.insertInto('attempts').values(attempt).execute();
  },

  /** Writes an attempt's outcome and releases the lease; delivered and failed are stamped by the database clock. */
  async recordOutcome(db: Executor, id: string, outcome: DeliveryOutcome): Promise<void> {
    await db
      .updateTable('deliveries')
      .set((eb) => ({
        attempts: outcome.attempts,
        schedule_attempts: outcome.scheduleAttempts,
        status: outcome.status,
        next_attempt_at: outcome.status === 'pending' ? ms(outcome.retryInMs ?? 0) : null,
        locked_until: null,
        lease_token: null,
        locked_by: null,
        last_error: outcome.lastError,
        last_status_code: outcome.lastStatusCode,
        failure_reason: outcome.failureReason,
        delivered_at: outcome.status === 'delivered' ? sql<Date>`clock_timestamp()` : eb.ref('delivered_at'),
        failed_at: outcome.status === 'failed' ? sql<Date>`clock_timestamp()` : null,
        updated_at: sql<Date>`clock_timestamp()`,
      }))
      .where('id', '=', id)
      .execute();
  },

  /**
   * Claims up to `limit` due deliveries of enabled subscriptions (notices to owners go out even for
   * disabled ones), sealing groups so no more events join them.
   */
  async claimDue(db: Executor, input: { limit: number; leaseMs: number; leaseToken: string; worker: string }): Promise<DeliveryRow[]> {
    return db
      .updateTable('deliveries')
      .set({
        locked_until: ms(input.leaseMs),
        lease_token: input.leaseToken,
        locked_by: input.worker,
        sealed_at: sql<Date>`coalesce(sealed_at, clock_timestamp())`,
      })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('deliveries as d')
          .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
          .select('d.id')
          .where('d.status', '=', 'pending')
          .where('d.next_attempt_at', '<=', sql<Date>`clock_timestamp()`)
          .where((inner) => inner.or([inner('d.locked_until', 'is', null), inner('d.locked_until', '<', sql<Date>`clock_timestamp()`)]))
          .where((inner) => inner.or([inner('s.enabled', '=', true), inner('d.mode', '=', 'notice')]))
          .orderBy('d.next_attempt_at')
          .limit(input.limit)
          .forUpdate('d')
          .skipLocked(),
      )
      .returningAll()
      .execute();
  },

  /** Milliseconds until the next pending delivery falls due (or its lease expires); undefined when none. */
  async msUntilNextDue(db: Executor): Promise<number | undefined> {
    const row = await db
      .selectFrom('deliveries as d')
      .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
      .select(sql<number | null>`extract(epoch from min(greatest(d.next_attempt_at, coalesce(d.locked_until, d.next_attempt_at))) - clock_timestamp()) * 1000`.as('ms'))
      .where('d.status', '=', 'pending')
      .where((eb) => eb.or([eb('s.enabled', '=', true), eb('d.mode', '=', 'notice')]))
      .executeTakeFirst();
    return row?.ms === null || row?.ms === undefined ? undefined : Math.max(0, Number(row.ms));
  },

  /** The events a delivery carries, oldest first. */
  async eventsOf(db: Executor, deliveryId: string): Promise<DomainEvent[]> {
    const rows = await db
      .selectFrom('delivery_events as de')
      .innerJoin('events as e', 'e.id', 'de.event_id')
      .select(['e.envelope'])
      .where('de.delivery_id', '=', deliveryId)
      .orderBy('e.occurred_at')
      .orderBy('e.id')
      .execute();
    return rows.map((row) => row.envelope as DomainEvent);
  },

  /** The events of several deliveries, each list oldest first. */
  async eventsOfMany(db: Executor, deliveryIds: readonly string[]): Promise<Map<string, DomainEvent[]>> {
    const events = new Map<string, DomainEvent[]>();
    if (deliveryIds.length === 0) return events;
    const rows = await db
      .selectFrom('delivery_events as de')
      .innerJoin('events as e', 'e.id', 'de.event_id')
      .select(['de.delivery_id', 'e.envelope'])
      .where('de.delivery_id', 'in', deliveryIds)
      .orderBy('e.occurred_at')
      .orderBy('e.id')
      .execute();
    for (const row of rows) {
      const list = events.get(row.delivery_id) ?? [];
      list.push(row.envelope as DomainEvent);
      events.set(row.delivery_id, list);
    }
    return events;
  },

  /** Event ids and types per delivery, for the delivery log. */
  async eventSummaries(db: Executor, deliveryIds: readonly string[]): Promise<Map<string, { id: string; type: string; occurredAt: Date }[]>> {
    const summaries = new Map<string, { id: string; type: string; occurredAt: Date }[]>();
    if (deliveryIds.length === 0) return summaries;
    const rows = await db
      .selectFrom('delivery_events as de')
      .innerJoin('events as e', 'e.id', 'de.event_id')
      .select(['de.delivery_id', 'e.id', 'e.type', 'e.occurred_at'])
      .where('de.delivery_id', 'in', deliveryIds)
      .orderBy('e.occurred_at')
      .orderBy('e.id')
      .execute();
    for (const row of rows) {
      const list = summaries.get(row.delivery_id) ?? [];
      list.push({ id: row.id, type: row.type, occurredAt: row.occurred_at });
      summaries.set(row.delivery_id, list);
    }
    return summaries;
  },

  /** The delivery, locked, if `leaseToken` still holds it. */
  findLeased(db: Executor, id: string, leaseToken: string): Promise<DeliveryRow | undefined> {
    return db.selectFrom('deliveries').selectAll().where('id', '=', id).where('lease_token', '=', leaseToken).forUpdate().executeTakeFirst();
  },

  find(db: Executor, id: string): Promise<DeliveryRow | undefined> {
    return db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  },

  list(db: Executor, filter: DeliveryFilter): Promise<DeliveryRow[]> {
    let query = db.selectFrom('deliveries').selectAll('deliveries');
    if (filter.subscriptionId !== undefined) query = query.where('subscription_id', '=', filter.subscriptionId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.since !== undefined) query = query.where('created_at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('created_at', '<', filter.until);
    if (filter.eventType !== undefined) {
      const eventType = filter.eventType;
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('delivery_events as de')
            .innerJoin('events as e', 'e.id', 'de.event_id')
            .select(sql`1`.as('one'))
            .whereRef('de.delivery_id', '=', 'deliveries.id')
            .where('e.type', '=', eventType),
        ),
      );
    }
    if (filter.before !== undefined) query = query.where(sql<boolean>`(deliveries.created_at, deliveries.id) < (${filter.before.at}, ${filter.before.id}::uuid)`);
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
  },

  /** The attempts of several deliveries, in the order they were made. */
  async attemptsOfMany(db: Executor, deliveryIds: readonly string[]): Promise<AttemptRow[]> {
    if (deliveryIds.length === 0) return [];
    return db.selectFrom('attempts').selectAll().where('delivery_id', 'in', deliveryIds).orderBy('number').execute();
  },

  /** Puts a delivery back in the queue, due now, with a fresh schedule; refused while an attempt holds it. */
  async requeue(db: Executor, id: string): Promise<DeliveryRow | undefined> {
    return db
      .updateTable('deliveries')
      .set({
        status: 'pending',
        schedule_attempts: 0,
        next_attempt_at: sql<Date>`clock_timestamp()`,
        sealed_at: sql<Date>`coalesce(sealed_at, clock_timestamp())`,
        failure_reason: null,
        failed_at: null,
        updated_at: sql<Date>`clock_timestamp()`,
      })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`clock_timestamp()`)]))
      .returningAll()
      .executeTakeFirst();
  },

  /** Requeues a subscription's failed deliveries created since `since`; says how many. */
  async requeueFailed(db: Executor, subscriptionId: string, since: Date): Promise<number> {
    const rows = await db
      .updateTable('deliveries')
      .set({
        status: 'pending',
        schedule_attempts: 0,
        next_attempt_at: sql<Date>`clock_timestamp()`,
        failure_reason: null,
        failed_at: null,
        updated_at: sql<Date>`clock_timestamp()`,
      })
      .where('subscription_id', '=', subscriptionId)
      .where('status', '=', 'failed')
      .where('mode', '!=', 'notice')
      .where('created_at', '>=', since)
      .returning('id')
      .execute();
    return rows.length;
  },

  /** Seconds since the oldest pending delivery of an enabled subscription was created. */
  async oldestPendingSeconds(db: Executor): Promise<number> {
    const row = await db
      .selectFrom('deliveries as d')
      .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
      .select(sql<number>`coalesce(extract(epoch from clock_timestamp() - min(d.created_at)), 0)::float8`.as('age'))
      .where('d.status', '=', 'pending')
      .where('s.enabled', '=', true)
      .executeTakeFirstOrThrow();
    return row.age;
  },

  /** Removes finished deliveries older than `retentionMs`, and events received before then that no remaining delivery carries. */
  async prune(db: Executor, retentionMs: number): Promise<number> {
    const removed = await db
      .deleteFrom('deliveries')
      .where('status', 'in', ['delivered', 'failed'])
      .where('updated_at', '<', sql<Date>`clock_timestamp() - ${retentionMs} * interval '1 millisecond'`)
      .executeTakeFirst();
    await db
      .deleteFrom('events')
      .where('received_at', '<', sql<Date>`clock_timestamp() - ${retentionMs} * interval '1 millisecond'`)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('delivery_events').select('delivery_id').whereRef('delivery_events.event_id', '=', 'events.id'))))
      .execute();
    return Number(removed.numDeletedRows);
  },
};
