/**
 * One connection to RabbitMQ, kept open: AMQP heartbeats so that a dead peer is noticed in
 * seconds rather than at the next TCP timeout, reconnection with jittered exponential backoff, and
 * deadlines on closing. What runs on the connection (channels, topology, consumers) belongs to its
 * owner, which sets it up again in `onConnected` on every new connection. The domain-event `Bus`,
 * the `AgentChannel` and the simulator's agents all sit on it: the one AMQP client of the code base.
 */
import { jitteredDelay } from './backoff.ts';
import type { Socket } from 'node:net';
import amqp from 'amqplib';
import type { Logger } from './logger.ts';
import { redactUrl } from './logger.ts';

/** An amqplib connection (its channel model). */
export type AmqpConnection = Awaited<ReturnType<typeof amqp.connect>>;
export type { Channel, ConfirmChannel, ConsumeMessage, Options as AmqpOptions } from 'amqplib';

/** How long closing waits for the broker before giving up on a connection or channel. */
export const CLOSE_TIMEOUT_MS = 5_000;

/** Waits for `work` at most `ms`, never rejecting: closing must not hang on a dead connection. */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** AMQP heartbeats notice a dead peer in seconds rather than at the next TCP timeout. */
function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', '10');
  return parsed.toString();
}

export interface OpenConnectionOptions {
  /** Shown in the broker's connection list. */
  connectionName: string;
  /**
   * Disables Nagle's algorithm. Default true: amqplib leaves Nagle on, which costs ≈ 10 ms of
   * delivery latency (see the brief's measurements).
   */
  noDelay?: boolean;
  /** Socket buffer; raise it when whole batches are written into a corked socket. */
  writableHighWaterMark?: number;
}

/** Opens one connection with AMQP heartbeats on, not kept: for clean-ups and tools. */
export function openBrokerConnection(url: string, options: OpenConnectionOptions): Promise<AmqpConnection> {
  return amqp.connect(withHeartbeat(url), {
    clientProperties: { connection_name: options.connectionName },
    noDelay: options.noDelay ?? true,
    ...(options.writableHighWaterMark === undefined ? {} : { writableHighWaterMark: options.writableHighWaterMark }),
  });
}

/** The socket under an amqplib connection, to cork it around a batch of publishes. */
function socketOf(connection: AmqpConnection): Socket | undefined {
  const stream = (connection as unknown as { connection?: { stream?: Partial<Socket> } }).connection?.stream;
  return typeof stream?.cork === 'function' && typeof stream.uncork === 'function' ? (stream as Socket) : undefined;
}

export interface ReconnectPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface BrokerConnectionOptions extends OpenConnectionOptions {
  url: string;
  logger: Logger;
  /** Backoff between attempts: doubling from `initialDelayMs` up to `maxDelayMs`, each drawn in [½, 1] of that. */
  reconnect?: ReconnectPolicy;
  /**
   * Sets up what the owner runs on a new connection (channels, topology, consumers). A throw
   * closes the connection and counts as a failed attempt.
   */
  onConnected(connection: AmqpConnection): Promise<void>;
  /** The connection went away; called before a reconnection is scheduled. */
  onLost?(): void;
  /** Jitter source in [0, 1); `Math.random` by default. */
  random?: () => number;
}

const DEFAULT_RECONNECT: ReconnectPolicy = { initialDelayMs: 200, maxDelayMs: 15_000 };

export class BrokerConnection {
  readonly #options: BrokerConnectionOptions;
  readonly #logger: Logger;
  #connection: AmqpConnection | undefined;
  #connecting: Promise<void> | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #established = 0;
  #blocked = false;
  #closing = false;

  constructor(options: BrokerConnectionOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  /** The connection, once set up and until lost. */
  get current(): AmqpConnection | undefined {
    return this.#connection;
  }

  get connected(): boolean {
    return this.#connection !== undefined;
  }

  /** How many times a connection was set up (1 plus the reconnections). */
  get established(): number {
    return this.#established;
  }

  /** Whether the broker told us to stop publishing (a resource alarm). */
  get blocked(): boolean {
    return this.#blocked;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** The current connection's socket, to cork around a batch of writes. */
  get socket(): Socket | undefined {
    return this.#connection === undefined ? undefined : socketOf(this.#connection);
  }

  /** One attempt; rejects when it fails. Once up, a lost connection is re-established in the background. */
  connect(): Promise<void> {
    this.#connecting ??= this.#establish().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Connects, retrying with backoff until it succeeds or the connection is closed. */
  connectInBackground(): void {
    this.connect().catch((error: unknown) => this.#retry(error));
  }

  /**
   * Stops reconnecting, lets the owner `drain` (close its channels, wait for confirms) while the
   * connection is still up, then closes it; each step bounded by {@link CLOSE_TIMEOUT_MS}.
   */
  async close(drain?: () => Promise<void>): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    await within(this.#connecting ?? Promise.resolve(), CLOSE_TIMEOUT_MS);
    if (drain !== undefined) await within(drain(), CLOSE_TIMEOUT_MS);
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection !== undefined) await within(connection.close(), CLOSE_TIMEOUT_MS);
  }

  async #establish(): Promise<void> {
    if (this.#closing) throw new Error('broker connection is closed');
    const { url, connectionName, noDelay, writableHighWaterMark } = this.#options;
    const connection = await openBrokerConnection(url, {
      connectionName,
      ...(noDelay === undefined ? {} : { noDelay }),
      ...(writableHighWaterMark === undefined ? {} : { writableHighWaterMark }),
    });
    if (this.#closing) {
      await within(connection.close(), CLOSE_TIMEOUT_MS);
      throw new Error('broker connection is closed');
    }
    try {
      connection.on('error', (error: unknown) => this.#logger.warn({ err: error }, 'broker connection error'));
      connection.on('close', () => this.#lost(connection));
      connection.on('blocked', () => {
        this.#blocked = true;
      });
      connection.on('unblocked', () => {
        this.#blocked = false;
      });
      await this.#options.onConnected(connection);
      this.#connection = connection;
      this.#attempt = 0;
      this.#established++;
      this.#logger.info({ broker: redactUrl(url) }, 'connected to message broker');
    } catch (error) {
      await within(connection.close(), CLOSE_TIMEOUT_MS);
      throw error;
    }
  }

  #lost(connection: AmqpConnection): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    this.#blocked = false;
    this.#options.onLost?.();
    if (this.#closing) return;
    this.#logger.warn({ broker: redactUrl(this.#options.url) }, 'lost broker connection; reconnecting');
    this.#scheduleReconnect();
  }

  #retry(error: unknown): void {
    if (this.#closing) return;
    this.#logger.warn({ err: error, broker: redactUrl(this.#options.url), attempt: this.#attempt }, 'broker connection failed');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closing || this.#reconnectTimer !== undefined) return;
    const { initialDelayMs, maxDelayMs } = this.#options.reconnect ?? DEFAULT_RECONNECT;
    // Spread reconnections so that many clients do not hit a recovering broker together.
    const delay = jitteredDelay(initialDelayMs, maxDelayMs, this.#attempt, this.#options.random ?? Math.random);
    this.#attempt += 1;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.connectInBackground();
    }, delay);
    this.#reconnectTimer.unref();
  }
}
