import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { createDomainEvent, type DomainEvent } from '@defib/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedBus, waitFor, type IsolatedBus } from '../../../test/support/index.ts';
import { Bus, busNames, busTopology } from '../src/bus.ts';
import { consumeDomainEvents, type EventHandlers } from '../src/event-consumer.ts';
import { createLogger } from '../src/logger.ts';

const logger = createLogger({ service: 'consumer-test', level: 'silent' });

describe('domain event consumer', () => {
  let isolated: IsolatedBus;
  let bus: Bus;
  const handled: DomainEvent[] = [];

  const subject = { deployableId: randomUUID(), deployable: 'shop' };

  beforeAll(async () => {
    isolated = createIsolatedBus();
    bus = new Bus({ url: isolated.url, prefix: isolated.prefix, connectionName: 'consumer-spec', logger });
    await bus.start();
    const handlers: EventHandlers = {
      'deployable.stop-requested': (event) => {
        handled.push(event);
        return Promise.resolve();
      },
    };
    await consumeDomainEvents(bus, { consumer: 'spec', handlers, logger });
  });

  afterAll(async () => {
    await bus?.close();
    await isolated.cleanUp(busTopology(isolated.prefix, ['spec']));
  });

  async function takeAll(queue: string, until: (bodies: string[]) => boolean): Promise<string[]> {
    const connection = await amqp.connect(isolated.url);
    try {
      const channel = await connection.createChannel();
      const bodies: string[] = [];
      await waitFor(
        async () => {
          const message = await channel.get(queue, { noAck: true });
          if (message !== false) bodies.push(message.content.toString('utf8'));
          return until(bodies) ? true : undefined;
        },
        { what: `messages in ${queue}` },
      );
      return bodies;
    } finally {
      await connection.close();
    }
  }

  it('delivers the events it has a handler for, validated', async () => {
    const event = createDomainEvent('deployable.stop-requested', { subject, data: { version: 3 }, correlationId: randomUUID() });
    await bus.publish({ id: event.id, routingKey: event.type, body: event });
    const received = await waitFor(() => handled.find((candidate) => candidate.id === event.id), { what: 'the event' });
    expect(received).toEqual(event);
  });

  it('dead-letters a message that does not match the catalogue instead of handling it', async () => {
    const forged = { ...createDomainEvent('deployable.stop-requested', { subject, data: { version: 1 }, correlationId: randomUUID() }), data: { version: 'one' } };
    await bus.publish({ id: forged.id, routingKey: forged.type, body: forged });
    const dead = await takeAll(busNames(isolated.prefix).deadLetterQueue('spec'), (bodies) => bodies.some((body) => body.includes(forged.id)));
    expect(dead.some((body) => body.includes(forged.id))).toBe(true);
    expect(handled.some((event) => event.id === forged.id)).toBe(false);
  });

  it('keeps an event nobody subscribes to instead of losing it', async () => {
    const orphan = createDomainEvent('cloud.removed', { subject: { cloud: 'gone' }, data: { provider: 'ec2' }, correlationId: randomUUID() });
    await bus.publish({ id: orphan.id, routingKey: orphan.type, body: orphan });
    const kept = await takeAll(busNames(isolated.prefix).unroutedQueue, (bodies) => bodies.some((body) => body.includes(orphan.id)));
    expect(kept.some((body) => body.includes(orphan.id))).toBe(true);
  });

  it('refuses at start-up a handler for an event the catalogue does not define', async () => {
    const handlers = { 'deployable.exploded': () => Promise.resolve() } as unknown as EventHandlers;
    await expect(consumeDomainEvents(bus, { consumer: 'other', handlers, logger })).rejects.toThrow('deployable.exploded');
  });

  it('refuses at start-up a consumer with no handlers', async () => {
    await expect(consumeDomainEvents(bus, { consumer: 'other', handlers: {}, logger })).rejects.toThrow('consumes no events');
  });
});
