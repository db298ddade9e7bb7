/**
 * Consumes domain events from the bus: validates each against the catalogue (a message that
 * does not match is poison and goes straight to the dead-letter queue) and dispatches it to the
 * handler for its type. Bindings are derived from the handlers, so a service cannot subscribe to
 * an event it has no handler for; a handler for a type the catalogue does not know fails at
 * start-up.
 */
import { ContractViolation, eventTypes, parseDomainEvent, routingKeyFor, type DomainEvent, type EventType } from '@defib/contracts';
import type { Bus, Settlement } from './bus.ts';
import { runWithCorrelation } from './context.ts';
import { retryWhileDatabaseUnavailable } from './database-availability.ts';
import type { Logger } from './logger.ts';

export type EventHandlers = { [T in EventType]?: (event: DomainEvent<T>) => Promise<void> };

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
