/**
 * Consumes domain events from the bus: validates each against the catalogue (a message that
 * does not match is poison and goes straight to the dead-letter queue) and dispatches it to the
 * handler for its type. Bindings are derived from the handlers, so a service cannot subscribe to
 * an event it has no handler for; a handler for a type the catalogue does not know fails at
 * start-up.
 */
import { ContractViolation, eventTypes, parseDomainEvent, routingKeyFor, type DomainEvent, type EventType } from '@defib/contracts';
import type { Kysely, Transaction } from 'kysely';
import type { Bus, Settlement } from './bus.ts';
import { runWithCorrelation } from './context.ts';
import { retryWhileDatabaseUnavailable } from './database-availability.ts';
import type { Logger } from './logger.ts';
import { handleOnce, type PlatformTables } from './outbox.ts';

export type EventHandlers = { [T in EventType]?: (event: DomainEvent<T>) => Promise<void> };

/**
 * Handlers that run inside the inbox transaction: what they write through `trx` commits together
 * with the event's id, so a redelivered event has no second effect. `R` is what a handler reports
 * (for metrics and tests).
 */
export type InboxHandlers<DB extends PlatformTables, R = void> = { [T in EventType]?: (event: DomainEvent<T>, trx: Transaction<DB>) => Promise<R> };

/** What became of a consumed event: handled now (with the handler's report), or already before. */
export type Handled<R> = { duplicate: false; result: R } | { duplicate: true };

/**
 * Wraps each handler in the inbox (`handleOnce`); `onHandled` hears about every event once its
 * transaction committed, duplicates included.
 */
export function throughInbox<DB extends PlatformTables, R>(
  db: Kysely<DB>,
  handlers: InboxHandlers<DB, R>,
  onHandled?: (event: DomainEvent, handled: Handled<R>) => void,
): EventHandlers {
  const wrapped = Object.entries(handlers).map(([type, handler]) => {
    const handle = handler as (event: DomainEvent, trx: Transaction<DB>) => Promise<R>;
    return [
      type,
      async (event: DomainEvent) => {
        let result: R | undefined;
        const fresh = await handleOnce(db, event, async (trx) => {
          result = await handle(event, trx);
        });
        onHandled?.(event, fresh ? { duplicate: false, result: result as R } : { duplicate: true });
      },
    ];
  });
  return Object.fromEntries(wrapped) as EventHandlers;
}

export interface EventConsumerOptions {
  /** The consuming service; names its queue. */
  consumer: string;
  handlers: EventHandlers;
  logger: Logger;
  prefetch?: number;
  deliveryLimit?: number;
  /** Called with each event after its handler succeeded (metrics, tests). */
  onHandled?: (event: DomainEvent) => void;
}

export async function consumeDomainEvents(bus: Bus, options: EventConsumerOptions): Promise<void> {
  const types = Object.keys(options.handlers);
  const unknown = types.filter((type) => !(eventTypes as readonly string[]).includes(type));
  if (unknown.length > 0) throw new Error(`${options.consumer} has handlers for events the catalogue does not define: ${unknown.join(', ')}`);
  if (types.length === 0) throw new Error(`${options.consumer} consumes no events`);
  const logger = options.logger.child({ component: 'event-consumer', consumer: options.consumer });
  await bus.consume({
    consumer: options.consumer,
    bindings: (types as EventType[]).map(routingKeyFor),
    ...(options.prefetch === undefined ? {} : { prefetch: options.prefetch }),
    ...(options.deliveryLimit === undefined ? {} : { deliveryLimit: options.deliveryLimit }),
    async handle(message): Promise<Settlement> {
      let event: DomainEvent;
      try {
        event = parseDomainEvent(JSON.parse(message.content.toString('utf8')));
      } catch (error) {
        const issues = error instanceof ContractViolation ? error.issues : undefined;
        logger.error({ err: error, issues, routingKey: message.fields.routingKey }, 'event does not match the catalogue; dead-lettering it');
        return 'dead-letter';
      }
      const handler = options.handlers[event.type] as ((event: DomainEvent) => Promise<void>) | undefined;
      if (handler === undefined) {
        logger.error({ type: event.type, eventId: event.id }, 'no handler for event; dead-lettering it');
        return 'dead-letter';
      }
      // Held, not requeued, while the database is away: a requeue would count against the
      // queue's delivery limit and a long enough outage would dead-letter good events.
      await retryWhileDatabaseUnavailable(() => runWithCorrelation(event.correlationId, () => handler(event)), {
        logger,
        what: `handling ${event.type} ${event.id}`,
      });
      options.onHandled?.(event);
      return 'ack';
    },
  });
}
