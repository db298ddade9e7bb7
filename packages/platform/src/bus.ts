/**
 * The domain-event bus, on a {@link BrokerConnection} (which reconnects; the bus declares its
 * topology again each time): publishes with publisher confirms and `mandatory`, and runs
 * consumers on durable quorum queues whose poison messages end in a dead-letter queue.
 */
import { BrokerConnection, CLOSE_TIMEOUT_MS, openBrokerConnection, within } from './broker-connection.ts';
import type { AmqpConnection, AmqpOptions, Channel, ConfirmChannel, ConsumeMessage, ReconnectPolicy } from './broker-connection.ts';
import type { Logger } from './logger.ts';

/** Names derived from the installation prefix; one place so tests can clean up after themselves. */
export function busNames(prefix: string) {
  return {
    eventsExchange: `${prefix}.events`,
    unroutedExchange: `${prefix}.events.unrouted`,
    unroutedQueue: `${prefix}.events.unrouted`,
    deadLetterExchange: `${prefix}.dead-letter`,
    consumerQueue: (consumer: string) => `${prefix}.${consumer}`,
    deadLetterQueue: (consumer: string) => `${prefix}.${consumer}.dead-letter`,
    /** The agent channel's topic exchange: heartbeats, commands and replies (the agent configuration's `exchange`). */
    agentsExchange: `${prefix}.agents`,
    /** A consumer's queue of agent heartbeats and replies: transient, classic, non-durable. */
    agentQueue: (consumer: string) => `${prefix}.${consumer}.agents`,
    /** Where a consumer's unparseable agent messages are kept for inspection. */
    agentDeadLetterQueue: (consumer: string) => `${prefix}.${consumer}.agents.dead-letter`,
  };
}

/** Everything an installation with `prefix` declares for `consumers`: what a clean-up removes. */
export function busTopology(prefix: string, consumers: readonly string[]): { exchanges: string[]; queues: string[] } {
  const names = busNames(prefix);
  return {
    exchanges: [names.eventsExchange, names.unroutedExchange, names.deadLetterExchange, names.agentsExchange],
    queues: consumers
      .flatMap((consumer) => [names.consumerQueue(consumer), names.deadLetterQueue(consumer), names.agentQueue(consumer), names.agentDeadLetterQueue(consumer)])
      .concat(names.unroutedQueue),
  };
}

/**
 * Deletes exchanges and queues (for test runs and benches that leave the broker as they found
 * it). One channel per deletion: a missing object closes its channel, not the others.
 */
export async function deleteBusObjects(url: string, objects: { exchanges: readonly string[]; queues: readonly string[] }): Promise<void> {
  const connection = await openBrokerConnection(url, { connectionName: 'defib-bus-clean-up' });
  try {
    const remove = async (work: (channel: Channel) => Promise<unknown>) => {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await work(channel).catch(() => undefined);
      await channel.close().catch(() => undefined);
    };
    for (const queue of objects.queues) await remove((channel) => channel.deleteQueue(queue));
    for (const exchange of objects.exchanges) await remove((channel) => channel.deleteExchange(exchange));
  } finally {
    await connection.close();
  }
}

export interface BusOptions {
  url: string;
  prefix: string;
  /** Shown in the broker's connection list. */
  connectionName: string;
  logger: Logger;
  reconnect?: ReconnectPolicy;
  /** How long a publish waits for a connection before failing. */
  publishTimeoutMs?: number;
}

export interface OutgoingMessage {
  /** Becomes the AMQP message id; consumers use it as the idempotency key. */
  id: string;
  routingKey: string;
  body: unknown;
  type?: string;
  correlationId?: string | undefined;
}

/** What a consumer does with a message it could not handle. */
export type Settlement = 'ack' | 'retry' | 'dead-letter';

export interface ConsumerOptions {
  /** Queue suffix: `<prefix>.<consumer>`; one per consuming service. */
  consumer: string;
  /** Routing-key patterns bound to the events exchange. */
  bindings: readonly string[];
  prefetch?: number;
  /** Deliveries before a message is dead-lettered (quorum queue `x-delivery-limit`). */
  deliveryLimit?: number;
  /** Returns how to settle; a throw counts as `retry`. */
  handle(message: ConsumeMessage): Promise<Settlement>;
}

export class PublishError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PublishError';
  }
}

interface ConsumerRegistration {
  options: ConsumerOptions;
  /** Open while connected; gone with the connection. */
  channel: Channel | undefined;
}

export class Bus {
  readonly names: ReturnType<typeof busNames>;
  private readonly options: BusOptions;
  private readonly logger: Logger;
  private readonly broker: BrokerConnection;
  private publishChannel: ConfirmChannel | undefined;
  private readonly returned = new Set<string>();
  private readonly consumers: ConsumerRegistration[] = [];
  private readonly waiters: (() => void)[] = [];
  private closing = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(options: BusOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: 'bus' });
    this.names = busNames(options.prefix);
    this.broker = new BrokerConnection({
      url: options.url,
      connectionName: options.connectionName,
      logger: this.logger,
      ...(options.reconnect === undefined ? {} : { reconnect: options.reconnect }),
      onConnected: (connection) => this.setUp(connection),
      onLost: () => {
        this.publishChannel = undefined;
        for (const registration of this.consumers) registration.channel = undefined;
      },
    });
  }

  /** Connects and declares the topology; resolves once the bus can publish. */
  async start(): Promise<void> {
    await this.broker.connect();
  }

  get connected(): boolean {
    return this.publishChannel !== undefined;
  }

  /** Readiness: fails unless the broker connection is up. */
  ping(): Promise<void> {
    return this.connected ? Promise.resolve() : Promise.reject(new Error('message broker not connected'));
  }

  /**
   * Publishes persistently with `mandatory`; resolves only after the broker confirms. Rejects
   * when the broker nacks or returns the message, or no connection comes within the timeout.
   */
  async publish(message: OutgoingMessage): Promise<void> {
    const channel = await this.publishingChannel();
    const content = Buffer.from(JSON.stringify(message.body));
    const properties: AmqpOptions.Publish = {
      persistent: true,
      mandatory: true,
      messageId: message.id,
      contentType: 'application/json',
      timestamp: Math.floor(Date.now() / 1000),
      ...(message.type === undefined ? {} : { type: message.type }),
      ...(message.correlationId === undefined ? {} : { correlationId: message.correlationId }),
    };
    const confirmed = new Promise<void>((resolve, reject) => {
      const sent = channel.publish(this.names.eventsExchange, message.routingKey, content, properties, (error: unknown) => {
        const wasReturned = this.returned.delete(message.id);
        if (error !== null && error !== undefined) reject(new PublishError(`broker refused message ${message.id}`, { cause: error }));
        else if (wasReturned) reject(new PublishError(`message ${message.id} (${message.routingKey}) could not be routed`));
        else resolve();
      });
      if (!sent) this.logger.debug('publish buffer full; waiting for confirms');
    });
    let onClose: (() => void) | undefined;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new PublishError(`connection closed before message ${message.id} was confirmed`));
      channel.once('close', onClose);
    });
    const settled = Promise.race([confirmed, closed]).finally(() => {
      if (onClose !== undefined) channel.removeListener('close', onClose);
    });
    this.track(settled);
    await settled;
  }

  /** Declares the consumer's queue and starts consuming; survives reconnections. */
  async consume(options: ConsumerOptions): Promise<void> {
    const registration: ConsumerRegistration = { options, channel: undefined };
    this.consumers.push(registration);
    const connection = this.broker.current;
    if (connection !== undefined) await this.startConsumer(connection, registration);
  }

  /** Stops consuming, waits for in-flight work and confirms, then closes the connection. */
  async close(): Promise<void> {
    this.closing = true;
    await this.broker.close(async () => {
      for (const registration of this.consumers) {
        if (registration.channel !== undefined) await within(registration.channel.close(), CLOSE_TIMEOUT_MS);
      }
      await Promise.allSettled([...this.inFlight]);
    });
    this.publishChannel = undefined;
    for (const wake of this.waiters.splice(0)) wake();
  }

  private track(promise: Promise<unknown>): void {
    this.inFlight.add(promise);
    const forget = () => this.inFlight.delete(promise);
    promise.then(forget, forget);
  }

  private async publishingChannel(): Promise<ConfirmChannel> {
    if (this.publishChannel !== undefined) return this.publishChannel;
    if (this.closing) throw new PublishError('bus is closed');
    const timeoutMs = this.options.publishTimeoutMs ?? 5_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PublishError(`no broker connection within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.publishChannel === undefined) throw new PublishError('bus is closed');
    return this.publishChannel;
  }

  /** On each new connection: the confirm channel, the topology, the consumers. */
  private async setUp(connection: AmqpConnection): Promise<void> {
    const channel = await connection.createConfirmChannel();
    channel.setMaxListeners(0);
    channel.on('error', (error: unknown) => this.logger.warn({ err: error }, 'publish channel error'));
    channel.on('return', (message: ConsumeMessage) => {
      const id = message.properties.messageId as string | undefined;
      if (id !== undefined) this.returned.add(id);
      this.logger.error({ messageId: id, routingKey: message.fields.routingKey }, 'message returned unroutable');
    });
    channel.on('close', () => {
      if (this.publishChannel === channel) this.publishChannel = undefined;
    });
    await this.declareTopology(channel);
    for (const registration of this.consumers) await this.startConsumer(connection, registration);
    this.publishChannel = channel;
    for (const wake of this.waiters.splice(0)) wake();
  }

  private async declareTopology(channel: Channel): Promise<void> {
    const names = this.names;
    await channel.assertExchange(names.unroutedExchange, 'fanout', { durable: true });
    await channel.assertQueue(names.unroutedQueue, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-max-length': 100_000, 'x-overflow': 'drop-head' },
    });
    await channel.bindQueue(names.unroutedQueue, names.unroutedExchange, '');
    await channel.assertExchange(names.eventsExchange, 'topic', {
      durable: true,
      alternateExchange: names.unroutedExchange,
    });
    await channel.assertExchange(names.deadLetterExchange, 'direct', { durable: true });
  }

  private async startConsumer(connection: AmqpConnection, registration: ConsumerRegistration): Promise<void> {
    const { options } = registration;
    const queue = this.names.consumerQueue(options.consumer);
    const deadLetterQueue = this.names.deadLetterQueue(options.consumer);
    const channel = await connection.createChannel();
    channel.on('error', (error: unknown) => this.logger.warn({ err: error, queue }, 'consumer channel error'));
    await channel.assertQueue(deadLetterQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await channel.bindQueue(deadLetterQueue, this.names.deadLetterExchange, deadLetterQueue);
    await channel.assertQueue(queue, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': options.deliveryLimit ?? 10,
        'x-dead-letter-exchange': this.names.deadLetterExchange,
        'x-dead-letter-routing-key': deadLetterQueue,
      },
    });
    for (const pattern of options.bindings) await channel.bindQueue(queue, this.names.eventsExchange, pattern);
    await channel.prefetch(options.prefetch ?? 32);
    registration.channel = channel;
    await channel.consume(queue, (message) => {
      if (message === null) return;
      const work = this.settle(channel, options, message);
      this.track(work);
    });
  }

  private async settle(channel: Channel, options: ConsumerOptions, message: ConsumeMessage): Promise<void> {
    let settlement: Settlement;
    try {
      settlement = await options.handle(message);
    } catch (error) {
      this.logger.warn({ err: error, messageId: message.properties.messageId as unknown, routingKey: message.fields.routingKey }, 'message handling failed; will retry');
      settlement = 'retry';
    }
    try {
      switch (settlement) {
        case 'ack':
          channel.ack(message);
          break;
        case 'retry':
          channel.nack(message, false, true);
          break;
        case 'dead-letter':
          channel.nack(message, false, false);
          break;
      }
    } catch (error) {
      // The channel closed under us; the broker redelivers the message on the next connection.
      this.logger.debug({ err: error }, 'could not settle message; channel gone');
    }
  }
}
