/**
 * Simulated agents over RabbitMQ, multiplexed. Real agents each hold a connection; ten thousand
 * connections push one broker past a two-core machine (see the brief's measurements), so the
 * simulator keeps a small pool per broker URL and hands each booted agent one connection of it,
 * round robin. On each connection:
 * - one plain channel publishes heartbeats and replies: transient messages, no publisher confirms
 *   (nothing heavier belongs on the heartbeat path);
 * - one channel consumes commands from a single exclusive, auto-delete queue, bound once per
 *   assembly with an agent on the connection (`command.<assemblyId>`), so 10,000 agents make a
 *   handful of queues and 10,000 bindings rather than 10,000 queues.
 *
 * Each pooled connection is a platform {@link BrokerConnection}: one that drops is re-established
 * with jittered backoff; the exchanges are checked (declared when missing) and the bindings made
 * again. Whatever an agent publishes meanwhile is lost, as on
 * a real network; so are commands sent to an assembly while its binding is missing.
 */
import type { Socket } from 'node:net';
import { commandRoutingKey } from '@defib/contracts';
import type { AmqpConnection, AmqpOptions, Channel, ConsumeMessage, Logger, ReconnectPolicy } from '@defib/platform';
import { BrokerConnection } from '@defib/platform';
import type { AgentLink, AgentNetwork } from './agent-network.ts';

export interface AmqpAgentNetworkOptions {
  logger: Logger;
  /** Connections per broker URL. Default 2. */
  connectionsPerBroker?: number;
  /** Shown in the broker's connection list, suffixed with the connection's number. */
  connectionName?: string;
  /**
   * Disables Nagle's algorithm. Default true: amqplib leaves Nagle on, which costs ≈ 10 ms of
   * delivery latency; with writes coalesced per batch of heartbeats the CPU cost is small.
   */
  noDelay?: boolean;
  reconnect?: ReconnectPolicy;
  /** Corks each socket around a batch of heartbeats so a batch leaves in few writes. Default true. */
  coalesceWrites?: boolean;
}

const COMMAND_PREFIX = commandRoutingKey('');
const PUBLISH_OPTIONS: AmqpOptions.Publish = { contentType: 'application/json' };
/** Room for a whole batch of heartbeats in a corked socket (16 KiB would block amqplib mid-batch). */
const SOCKET_BUFFER_BYTES = 1 << 20;
const DEFAULT_RECONNECT: ReconnectPolicy = { initialDelayMs: 200, maxDelayMs: 10_000 };

export class AmqpAgentNetwork implements AgentNetwork {
  readonly #options: AmqpAgentNetworkOptions;
  readonly #pools = new Map<string, { connections: PooledConnection[]; next: number }>();
  #closed = false;

  constructor(options: AmqpAgentNetworkOptions) {
    const size = options.connectionsPerBroker ?? 2;
    if (!Number.isInteger(size) || size < 1) throw new Error(`connectionsPerBroker must be a positive integer, got ${size}`);
    this.#options = options;
  }

  link(brokerUrl: string): AgentLink {
    if (this.#closed) throw new Error('the agent network is closed');
    let pool = this.#pools.get(brokerUrl);
    if (!pool) {
      pool = { connections: [], next: 0 };
      this.#pools.set(brokerUrl, pool);
    }
    const size = this.#options.connectionsPerBroker ?? 2;
    const index = pool.next++ % size;
    let connection = pool.connections[index];
    if (!connection) {
      const poolNumber = this.#pools.size;
      connection = new PooledConnection(brokerUrl, { ...this.#options, connectionName: `${this.#options.connectionName ?? 'defib-simulator-agents'}-${poolNumber}.${index + 1}` });
      pool.connections[index] = connection;
    }
    return connection;
  }

  beginBatch(): void {
    if (this.#options.coalesceWrites === false) return;
    for (const pool of this.#pools.values()) for (const connection of pool.connections) connection.cork();
  }

  endBatch(): void {
    if (this.#options.coalesceWrites === false) return;
    for (const pool of this.#pools.values()) for (const connection of pool.connections) connection.uncork();
  }

  /** How many pooled connections are up, how many there are, and how often they were (re)established. */
  connectionCount(): { open: number; total: number; established: number } {
    const all = [...this.#pools.values()].flatMap((pool) => pool.connections);
    return { open: all.filter((connection) => connection.connected).length, total: all.length, established: all.reduce((sum, connection) => sum + connection.established, 0) };
  }

  /** Whether every connection of the pool for `brokerUrl` is up; undefined when there is no such pool. */
  isConnected(brokerUrl: string): boolean | undefined {
    const pool = this.#pools.get(brokerUrl);
    if (!pool) return undefined;
    return pool.connections.every((connection) => connection.connected);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#pools.values()].flatMap((pool) => pool.connections);
    this.#pools.clear();
    await Promise.all(all.map((connection) => connection.close()));
  }
}

/** One pooled connection: the link of every agent assigned to it. */
class PooledConnection implements AgentLink {
  readonly #broker: BrokerConnection;
  readonly #logger: Logger;
  /** Command listeners by `exchange \0 assemblyId`. */
  readonly #listeners = new Map<string, Set<(body: Buffer) => void>>();
  /** Every exchange an agent on this connection uses; checked again after each reconnection. */
  readonly #exchanges = new Set<string>();
  /** Exchanges known to exist on the current connection; publishing to others would close the channel. */
  readonly #ready = new Set<string>();
  readonly #checking = new Set<string>();
  #connection: AmqpConnection | undefined;
  #publisher: Channel | undefined;
  #commands: Channel | undefined;
  #queue: string | undefined;
  /** The socket corked for the current batch. */
  #corked: Socket | undefined;
  #congested = false;

  constructor(url: string, options: AmqpAgentNetworkOptions & { connectionName: string }) {
    this.#logger = options.logger.child({ component: 'agent-network', connection: options.connectionName });
    this.#broker = new BrokerConnection({
      url,
      connectionName: options.connectionName,
      logger: this.#logger,
      noDelay: options.noDelay ?? true,
      writableHighWaterMark: SOCKET_BUFFER_BYTES,
      reconnect: options.reconnect ?? DEFAULT_RECONNECT,
      onConnected: (connection) => this.#setUp(connection),
      onLost: () => this.#forget(),
    });
    this.#broker.connectInBackground();
  }

  get connected(): boolean {
    return this.#publisher !== undefined;
  }

  /** How many times this connection was established (1 plus the reconnections). */
  get established(): number {
    return this.#broker.established;
  }

  publish(exchange: string, routingKey: string, body: Buffer): boolean {
    const channel = this.#publisher;
    if (channel === undefined || this.#congested || this.#broker.blocked) return false;
    if (!this.#ready.has(exchange)) {
      this.#use(exchange);
      return false;
    }
    try {
      if (!channel.publish(exchange, routingKey, body, PUBLISH_OPTIONS)) {
        // amqplib buffered it; drop what follows until the socket drains rather than pile up.
        this.#congested = true;
        channel.once('drain', () => {
          this.#congested = false;
        });
      }
      return true;
    } catch {
      return false;
    }
  }

  listenForCommands(exchange: string, assemblyId: string, deliver: (body: Buffer) => void): () => void {
    const key = `${exchange}\0${assemblyId}`;
    let listeners = this.#listeners.get(key);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(key, listeners);
      if (this.#ready.has(exchange)) this.#bind(exchange, assemblyId, true);
    }
    listeners.add(deliver);
    this.#use(exchange);
    const own = listeners;
    return () => {
      if (!own.delete(deliver) || own.size > 0 || this.#listeners.get(key) !== own) return;
      this.#listeners.delete(key);
      if (this.#ready.has(exchange)) this.#bind(exchange, assemblyId, false);
    };
  }

  cork(): void {
    if (this.#corked !== undefined || this.#publisher === undefined) return;
    this.#corked = this.#broker.socket;
    this.#corked?.cork();
  }

  uncork(): void {
    const socket = this.#corked;
    if (socket === undefined) return;
    this.#corked = undefined;
    // amqplib hands frames to the socket from a setImmediate queued after this one (from the
    // channel buffer's 'readable' tick): uncork on the turn after, once it has written them. Were
    // the order ever different, frames would merely leave uncoalesced, never stay stuck.
    setImmediate(() => setImmediate(() => socket.uncork()));
  }

  async close(): Promise<void> {
    await this.#broker.close();
    this.#forget();
  }

  #use(exchange: string): void {
    this.#exchanges.add(exchange);
    if (this.#connection !== undefined && !this.#ready.has(exchange)) void this.#check(exchange, this.#connection);
  }

  /** Makes sure the exchange exists (a topic exchange, declared durable if missing), then binds its assemblies. */
  async #check(exchange: string, connection: AmqpConnection): Promise<void> {
    if (this.#checking.has(exchange)) return;
    this.#checking.add(exchange);
    try {
      const probe = await connection.createChannel();
      probe.on('error', () => undefined);
      try {
        await probe.checkExchange(exchange);
        await probe.close();
      } catch {
        // The failed check closed the probe channel; declare on a fresh one.
        const declarer = await connection.createChannel();
        declarer.on('error', () => undefined);
        await declarer.assertExchange(exchange, 'topic', { durable: true });
        await declarer.close();
      }
      if (this.#connection !== connection) return;
      this.#ready.add(exchange);
      for (const key of this.#listeners.keys()) {
        const [keyExchange, assemblyId] = key.split('\0') as [string, string];
        if (keyExchange === exchange) this.#bind(exchange, assemblyId, true);
      }
    } catch (error) {
      if (this.#connection === connection) this.#logger.warn({ err: error, exchange }, 'could not check or declare the agent exchange');
    } finally {
      this.#checking.delete(exchange);
    }
  }

  #bind(exchange: string, assemblyId: string, bind: boolean): void {
    const channel = this.#commands;
    const queue = this.#queue;
    if (channel === undefined || queue === undefined) return;
    const routingKey = commandRoutingKey(assemblyId);
    const done = bind ? channel.bindQueue(queue, exchange, routingKey) : channel.unbindQueue(queue, exchange, routingKey);
    done.catch((error: unknown) => {
      if (!this.#broker.closing && this.#commands === channel) this.#logger.warn({ err: error, exchange, routingKey }, bind ? 'could not bind commands' : 'could not unbind commands');
    });
  }

  #deliver(message: ConsumeMessage | null): void {
    if (message === null) return;
    const { exchange, routingKey } = message.fields;
    if (!routingKey.startsWith(COMMAND_PREFIX)) return;
    const listeners = this.#listeners.get(`${exchange}\0${routingKey.slice(COMMAND_PREFIX.length)}`);
    if (!listeners) return;
    for (const deliver of [...listeners]) {
      try {
        deliver(message.content);
      } catch (error) {
        this.#logger.error({ err: error, routingKey }, 'agent failed to take a command');
      }
    }
  }

  /** On each new connection: a publishing channel, a command queue, the exchanges checked and bound. */
  async #setUp(connection: AmqpConnection): Promise<void> {
    const publisher = await connection.createChannel();
    const commands = await connection.createChannel();
    for (const channel of [publisher, commands]) {
      channel.on('error', (error: unknown) => this.#logger.warn({ err: error }, 'agent channel error'));
      // A channel the broker closed (an exchange deleted under us, say): start over on a new connection.
      channel.on('close', () => {
        if (this.#connection === connection) connection.close().catch(() => undefined);
      });
    }
    const { queue } = await commands.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await commands.consume(queue, (message) => this.#deliver(message), { noAck: true });
    this.#connection = connection;
    this.#publisher = publisher;
    this.#commands = commands;
    this.#queue = queue;
    for (const exchange of this.#exchanges) void this.#check(exchange, connection);
  }

  #forget(): void {
    this.#connection = undefined;
    this.#publisher = undefined;
    this.#commands = undefined;
    this.#queue = undefined;
    this.#corked = undefined;
    this.#congested = false;
    this.#ready.clear();
  }
}
