/**
 * The delivery log: every delivery with every attempt (status code, latency, error), filtered and
 * paged newest first; and replay — one delivery again (the same `webhook-id`, so receivers can
 * de-duplicate), or everything a subscription failed to deliver since a time.
 */
import { AppError, decodePageCursor, encodePageCursor } from '@defib/platform';
import type { Kysely } from 'kysely';
import { deliveryRepository, type DeliveryFilter } from './delivery.repository.ts';
import { subscriptionRepository } from './subscription.repository.ts';
import type { AttemptOutcome, AttemptRow, DeliveryChannel, DeliveryMode, DeliveryRow, DeliveryStatus, FailureReason, NotifierTables } from './tables.ts';

export interface AttemptView {
  number: number;
  startedAt: string;
  latencyMs: number;
  statusCode: number | null;
  outcome: AttemptOutcome;
  error: string | null;
}

export interface DeliveryView {
  /** Also the `webhook-id` header of every attempt. */
  id: string;
  subscriptionId: string;
  channel: DeliveryChannel;
  /** Email deliveries: who receives it. */
  recipient?: string;
  mode: DeliveryMode;
  status: DeliveryStatus;
  events: { id: string; type: string; occurredAt: string }[];
  nextAttemptAt: string | null;
  lastError: string | null;
  lastStatusCode: number | null;
  failureReason: FailureReason | null;
  createdAt: string;
  updatedAt: string;
  deliveredAt: string | null;
  failedAt: string | null;
  attempts: AttemptView[];
}

export interface DeliveryListQuery {
  subscription?: string | undefined;
  status?: DeliveryStatus | undefined;
  eventType?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  cursor?: string | undefined;
  limit: number;
}

export interface DeliveryLog {
  list(query: DeliveryListQuery): Promise<{ items: DeliveryView[]; nextCursor: string | null }>;
  get(id: string): Promise<DeliveryView>;
  /** Sends a delivery again, due now with a fresh schedule. */
  redeliver(id: string): Promise<DeliveryView>;
  /** Requeues a subscription's failed deliveries created since `since`. */
  redeliverFailed(subscriptionId: string, since: Date): Promise<number>;
}

function attemptView(row: AttemptRow): AttemptView {
  return { number: row.number, startedAt: row.started_at.toISOString(), latencyMs: row.latency_ms, statusCode: row.status_code, outcome: row.outcome, error: row.error };
}

function deliveryView(row: DeliveryRow, events: { id: string; type: string; occurredAt: Date }[], attempts: AttemptRow[]): DeliveryView {
  return {
    id: row.id,
    subscriptionId: row.subscription_id,
    channel: row.channel,
    ...(row.channel === 'email' ? { recipient: row.target } : {}),
    mode: row.mode,
    status: row.status,
    events: events.map((event) => ({ id: event.id, type: event.type, occurredAt: event.occurredAt.toISOString() })),
    nextAttemptAt: row.status === 'pending' ? (row.next_attempt_at?.toISOString() ?? null) : null,
    lastError: row.last_error,
    lastStatusCode: row.last_status_code,
    failureReason: row.failure_reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    deliveredAt: row.delivered_at?.toISOString() ?? null,
    failedAt: row.failed_at?.toISOString() ?? null,
    attempts: attempts.map(attemptView),
  };
}

export function createDeliveryLog(db: Kysely<NotifierTables>, onRequeued: () => void): DeliveryLog {
  const views = async (rows: DeliveryRow[], executor: Kysely<NotifierTables> = db): Promise<DeliveryView[]> => {
    const ids = rows.map((row) => row.id);
    const events = await deliveryRepository.eventSummaries(executor, ids);
    const attempts = await deliveryRepository.attemptsOfMany(executor, ids);
    return rows.map((row) => deliveryView(row, events.get(row.id) ?? [], attempts.filter((attempt) => attempt.delivery_id === row.id)));
  };

  // A delivery and its attempts are read in one snapshot: a worker recording an attempt meanwhile
  // must not show an attempt beside the delivery row as it was before that attempt.
  const inSnapshot = <T>(read: (snapshot: Kysely<NotifierTables>) => Promise<T>): Promise<T> =>
    db.transaction().setIsolationLevel('repeatable read').execute((trx) => read(trx));

  const mustExist = async (id: string, executor: Kysely<NotifierTables> = db): Promise<DeliveryRow> => {
    const row = await deliveryRepository.find(executor, id);
    if (row === undefined) throw AppError.notFound('delivery', id);
    return row;
  };

  return {
    async list(query) {
      const filter: DeliveryFilter = {
        subscriptionId: query.subscription,
        status: query.status,
        eventType: query.eventType,
        since: query.since,
        until: query.until,
        before: query.cursor === undefined ? undefined : decodePageCursor(query.cursor),
        limit: query.limit + 1,
      };
      return inSnapshot(async (snapshot) => {
        const rows = await deliveryRepository.list(snapshot, filter);
        const page = rows.slice(0, query.limit);
        const last = page.at(-1);
        return { items: await views(page, snapshot), nextCursor: rows.length > query.limit && last !== undefined ? encodePageCursor({ at: last.created_at, id: last.id }) : null };
      });
    },

    async get(id) {
      const [view] = await inSnapshot(async (snapshot) => views([await mustExist(id, snapshot)], snapshot));
      if (view === undefined) throw AppError.notFound('delivery', id);
      return view;
    },

    async redeliver(id) {
      const existing = await mustExist(id);
      const subscription = await subscriptionRepository.find(db, existing.subscription_id);
      if (subscription === undefined) throw AppError.notFound('delivery', id);
      if (!subscription.enabled && existing.mode !== 'notice') {
        throw AppError.conflict(`subscription ${subscription.id} is disabled; enable it before redelivering`);
      }
      const requeued = await deliveryRepository.requeue(db, id);
      if (requeued === undefined) throw AppError.conflict('the delivery is being attempted right now; try again when the attempt has finished');
      onRequeued();
      const [view] = await views([requeued]);
      if (view === undefined) throw AppError.notFound('delivery', id);
      return view;
    },

    async redeliverFailed(subscriptionId, since) {
      const subscription = await subscriptionRepository.find(db, subscriptionId);
      if (subscription === undefined) throw AppError.notFound('subscription', subscriptionId);
      if (!subscription.enabled) throw AppError.conflict(`subscription ${subscriptionId} is disabled; enable it before redelivering`);
      const count = await deliveryRepository.requeueFailed(db, subscriptionId, since);
      if (count > 0) onRequeued();
      return count;
    },
  };
}
