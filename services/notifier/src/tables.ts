/**
 * The notifier's tables, typed once. The notifier owns the `notifier` schema: subscriptions, the
 * events it consumed (the event log and what deliveries carry), deliveries (one per event and subscription target, or one per group of
 * events), every attempt, and each subscription's storm-control bucket.
 */
import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';
import type { PlatformTables } from '@defib/platform';

type CreatedAt = ColumnType<Date, never, never>;
type Timestamp = ColumnType<Date, Date | undefined, Date>;
type Json<T> = ColumnType<T, string, string>;
type NullableJson<T> = ColumnType<T | null, string | null | undefined, string | null>;

export type SubscriptionKind = 'webhook' | 'email';

/** A subscription's own storm control, as stored (`groupWindowMs` in ms). */
export interface StoredRateLimit {
  burst: number;
  perMinute: number;
  groupWindowMs: number;
}

export interface SubscriptionTable {
  id: string;
  kind: SubscriptionKind;
  name: string | null;
  /** Webhooks: where to POST. */
  url: string | null;
  /** Webhooks: a hook's final failure is announced as `hook.failed`. */
  hook: ColumnType<boolean, boolean | undefined, boolean>;
  /** Event types or patterns (`assembly.*`, `*`). */
  event_types: string[];
  /** Deployable names; empty for all. */
  deployables: ColumnType<string[], string[] | undefined, string[]>;
  /** Email: who receives it. */
  recipients: ColumnType<string[], string[] | undefined, string[]>;
  /** Email: events within this window go out as one digest (0: each on its own). */
  digest_window_ms: ColumnType<number, number | undefined, number>;
  /** Told by email when Defib disables the subscription. */
  owner_email: string | null;
  /** Webhooks: the signing secret, sealed by the secret box. */
  sealed_secret: string | null;
  /** The secret rotated out, still signing until `previous_secret_expires_at`. */
  sealed_previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  /** The subscription's own storm control; null for the service default. */
  rate_limit: NullableJson<StoredRateLimit>;
  /** False turns storm control off for this subscription. */
  storm_control: ColumnType<boolean, boolean | undefined, boolean>;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  disabled_reason: string | null;
  disabled_at: Date | null;
  /** Failed attempts since the last success. */
  consecutive_failures: ColumnType<number, number | undefined, number>;
  /** When the current run of failures began. */
  failing_since: Date | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface StormBucketTable {
  subscription_id: string;
  /** The recipient for email; empty for webhooks. */
  target: string;
  tokens: number;
  refilled_at: Date;
}

export interface EventTable {
  id: string;
  type: string;
  occurred_at: Date;
  /** The whole validated envelope, as received. */
  envelope: Json<unknown>;
  received_at: CreatedAt;
}

export type DeliveryChannel = 'webhook' | 'email';
/** `single`: one event. `group`: a digest or a storm-control batch. `notice`: a message from Defib itself (a subscription was disabled). */
export type DeliveryMode = 'single' | 'group' | 'notice';
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';
/** Why a delivery failed. */
export type FailureReason = 'exhausted' | 'permanent' | 'gone' | 'disabled';

export interface DeliveryTable {
  /** Also the `webhook-id`, so it is stable across retries and redeliveries. */
  id: string;
  subscription_id: string;
  channel: DeliveryChannel;
  /** The recipient for email; empty for webhooks. */
  target: ColumnType<string, string | undefined, string>;
  mode: DeliveryMode;
  /** What the events of a group are about: `deployable:<name>`, `cloud:<name>`, or empty. */
  group_key: ColumnType<string, string | undefined, string>;
  event_count: ColumnType<number, number | undefined, number>;
  /** For notices: the message itself. */
  notice: NullableJson<{ subject: string; text: string; html: string }>;
  status: ColumnType<DeliveryStatus, DeliveryStatus | undefined, DeliveryStatus>;
  /** Every attempt ever made. */
  attempts: ColumnType<number, number | undefined, number>;
  /** Attempts in the current schedule (a redelivery starts a new one). */
  schedule_attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Date | null;
  /** When a group stopped taking events (for singles: when created). */
  sealed_at: Date | null;
  locked_until: Date | null;
  lease_token: string | null;
  locked_by: string | null;
  last_error: string | null;
  last_status_code: number | null;
  failure_reason: FailureReason | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: Timestamp;
  delivered_at: Date | null;
  failed_at: Date | null;
}

export interface DeliveryEventTable {
  delivery_id: string;
  event_id: string;
  subscription_id: string;
  target: string;
}

export type AttemptOutcome = 'delivered' | 'retry' | 'failed';

export interface AttemptTable {
  id: string;
  delivery_id: string;
  number: number;
  started_at: Date;
  latency_ms: number;
  status_code: number | null;
  outcome: AttemptOutcome;
  error: string | null;
  worker: string;
}

export interface NotifierTables extends PlatformTables {
  subscriptions: SubscriptionTable;
  storm_buckets: StormBucketTable;
  events: EventTable;
  deliveries: DeliveryTable;
  delivery_events: DeliveryEventTable;
  attempts: AttemptTable;
}

export type SubscriptionRow = Selectable<SubscriptionTable>;
export type NewSubscription = Insertable<SubscriptionTable>;
export type SubscriptionUpdate = Updateable<SubscriptionTable>;
export type DeliveryRow = Selectable<DeliveryTable>;
export type NewDelivery = Insertable<DeliveryTable>;
export type AttemptRow = Selectable<AttemptTable>;
export type NewAttempt = Insertable<AttemptTable>;
export type NewEvent = Insertable<EventTable>;
export type DeliveryEventRow = Selectable<DeliveryEventTable>;
export type StormBucketRow = Selectable<StormBucketTable>;
