/**
 * The body of a webhook the notifier sends, as receivers see it — defined once, written by the
 * notifier and read by the drill's receiver. One event: `{type, timestamp, data}` with the event's
 * type and time, `data` holding its id, version, correlation id, reason, subject and payload.
 * Several (storm control): `{type: "batch", timestamp, data: {count, events}}`, each event whole.
 */
import type { DomainEvent } from './events.ts';

/** Body `type` of a webhook carrying several grouped events. */
export const WEBHOOK_BATCH_TYPE = 'batch';

/** One event as a webhook carries it: `occurredAt` is `timestamp`, `data` is `payload`. */
export interface WebhookEventView {
  id: string;
  type: string;
  version: number;
  timestamp: string;
  correlationId: string;
  reason?: string;
  subject: Record<string, unknown>;
  payload: unknown;
}

function viewOf(event: DomainEvent): WebhookEventView {
  return {
    id: event.id,
    type: event.type,
    version: event.version,
    timestamp: event.occurredAt,
    correlationId: event.correlationId,
    ...(event.reason === undefined ? {} : { reason: event.reason }),
    subject: event.subject,
    payload: event.data,
  };
}

function eventOf(view: WebhookEventView): DomainEvent {
  return {
    id: view.id,
    type: view.type,
    version: view.version,
    occurredAt: view.timestamp,
    correlationId: view.correlationId,
    ...(view.reason === undefined ? {} : { reason: view.reason }),
    subject: view.subject,
    data: view.payload,
  } as DomainEvent;
}

/** The webhook body carrying `events` (`now` dates a batch). */
export function webhookBody(events: readonly DomainEvent[], now: Date): string {
  const [only] = events;
  if (events.length === 1 && only !== undefined) {
    const { type, timestamp, ...data } = viewOf(only);
    return JSON.stringify({ type, timestamp, data });
  }
  return JSON.stringify({ type: WEBHOOK_BATCH_TYPE, timestamp: now.toISOString(), data: { count: events.length, events: events.map(viewOf) } });
}

/**
 * The events a webhook body carries, as they were published (not validated against the
 * catalogue: a receiver reads what it got). Throws a SyntaxError for a body that is not JSON.
 */
export function eventsOfWebhookBody(body: string): DomainEvent[] {
  const parsed = JSON.parse(body) as { type: string; timestamp: string; data: Omit<WebhookEventView, 'type' | 'timestamp'> & { events?: WebhookEventView[] } };
  if (parsed.type === WEBHOOK_BATCH_TYPE) return (parsed.data.events ?? []).map(eventOf);
  return [eventOf({ ...parsed.data, type: parsed.type, timestamp: parsed.timestamp })];
}
