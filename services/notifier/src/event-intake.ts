/**
 * Keeps every consumed event (the event log) and turns it into deliveries. Runs inside the inbox transaction (`kernel.consume`), so an
 * event creates its deliveries exactly once however often the bus delivers it, and a crash before
 * the commit leaves the message unacknowledged for another try. Each matching subscription target
 * gets the event on its own, or in a group (an email digest, or a storm-control batch).
 */
import type { DomainEvent } from '@defib/contracts';
import { eventTypes } from '@defib/contracts';
import type { InboxHandlers } from '@defib/platform';
import type { Transaction } from 'kysely';
import { deliveryRepository } from './delivery.repository.ts';
import { stormBucketRepository } from './storm-bucket.repository.ts';
import { routeEvent, type BucketState, type RateLimit } from './storm-control.ts';
import { effectiveRateLimit } from './subscriptions.ts';
import { subscriptionRepository } from './subscription.repository.ts';
import { groupKeyOf, matchesFilter } from './subscription-matching.ts';
import type { NotifierTables } from './tables.ts';

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

async function takeBucket(trx: Trx, subscriptionId: string, target: string): Promise<BucketState | undefined> {
  const row = await stormBucketRepository.findForUpdate(trx, subscriptionId, target);
  return row === undefined ? undefined : { tokens: row.tokens, refilledAt: row.refilled_at };
}

/** Creates the deliveries of one event in `trx`. */
export async function takeInEvent(trx: Trx, event: DomainEvent, settings: IntakeSettings): Promise<IntakeResult> {
  const result: IntakeResult = { subscriptions: 0, single: 0, grouped: 0 };
  // Every event is kept, delivered or not: it is the event log (GET /v1/events) until retention prunes it.
  await deliveryRepository.storeEvent(trx, { id: event.id, type: event.type, occurred_at: new Date(event.occurredAt), envelope: JSON.stringify(event) });
  const subscriptions = (await subscriptionRepository.listEnabled(trx)).filter((row) =>
    matchesFilter({ eventTypes: row.event_types, deployables: row.deployables }, event),
  );
  if (subscriptions.length === 0) return result;
  result.subscriptions = subscriptions.length;
  const now = settings.clock();
  for (const subscription of subscriptions) {
    const targets = subscription.kind === 'webhook' ? [''] : subscription.recipients;
    const groupKey = subscription.kind === 'email' ? groupKeyOf(event) : '';
    const limit = effectiveRateLimit(subscription, settings.defaultRateLimit);
    for (const target of targets) {
      const to = { subscriptionId: subscription.id, channel: subscription.kind, target };
      const consultsBucket = subscription.digest_window_ms === 0 && limit !== null;
      // Events are taken in concurrently: the bucket and open-group decisions for one target must
      // be made one event at a time, or a storm's first events all see a full bucket.
      if (consultsBucket) await stormBucketRepository.lockTarget(trx, subscription.id, target);
      const groupOpen = consultsBucket ? await deliveryRepository.hasOpenGroup(trx, to, groupKey) : false;
      const bucket = consultsBucket && !groupOpen ? await takeBucket(trx, subscription.id, target) : undefined;
      const decision = routeEvent({ limit, digestWindowMs: subscription.digest_window_ms, groupOpen, bucket, now: consultsBucket ? settings.clock() : now });
      if (consultsBucket && !groupOpen && decision.bucket !== undefined) {
        await stormBucketRepository.store(trx, { subscription_id: subscription.id, target, tokens: decision.bucket.tokens, refilled_at: decision.bucket.refilledAt });
      }
      // The unique (subscription, target, event) in delivery_events backs the inbox: one delivery per event and target.
      if (decision.routing.mode === 'single') {
        await deliveryRepository.createSingle(trx, to, event.id);
        result.single += 1;
      } else {
        const deliveryId = await deliveryRepository.joinGroup(trx, to, { groupKey, windowMs: decision.routing.windowMs, maxEvents: settings.groupMaxEvents });
        await deliveryRepository.addEvent(trx, { delivery_id: deliveryId, event_id: event.id, subscription_id: subscription.id, target });
        result.grouped += 1;
      }
    }
  }
  await deliveryRepository.announce(trx);
  return result;
}

/** A handler for every catalogued event type (the notifier is interested in all of them), each run in the inbox transaction. */
export function intakeHandlers(settings: IntakeSettings): InboxHandlers<NotifierTables, IntakeResult> {
  const handle = (event: DomainEvent, trx: Trx) => takeInEvent(trx, event, settings);
  return Object.fromEntries(eventTypes.map((type) => [type, handle]));
}
