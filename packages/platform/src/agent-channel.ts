/**
 * The services' side of the agent channel (`<BUS_PREFIX>.agents`): the cheap path measured in the
 * brief. One plain channel on a {@link BrokerConnection}: transient messages, no publisher
 * confirms, a non-durable classic queue with a prefetch in the hundreds, acknowledged in batches
 * (`multiple`). It offers:
 * - **heartbeats**: every signed, fresh, not-replayed heartbeat is handed to `onHeartbeat`;
 * - **commands**: `send` signs a command, publishes it with `mandatory` and resolves with the
 *   agent's signed reply, or rejects with an {@link AgentCommandError}: `no-agent-listening` at
 *   once when no agent is bound for the assembly (the broker returns the message), `reply-timeout`
 *   at the deadline.
 *
 * Everything that arrives is checked before anyone sees it, and what fails is counted and dropped,
 * never thrown: malformed JSON or a message the protocol does not know (dead-lettered for
 * inspection), an unknown assembly, a bad or missing MAC, a replayed or stale heartbeat.
 */
import type { AgentCommand, AgentKey, AgentReply, Heartbeat, PingReply, Unsigned } from '@defib/contracts';
import { commandRoutingKey, deriveAgentKey, heartbeatRoutingKey, isPingReply, parseAgentReply, parseHeartbeat, replyRoutingKey, signAgentMessage, verifyAgentMessage } from '@defib/contracts';
import { randomUUID } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import { AgentReplayGuard } from './agent-replay-guard.ts';
import { BrokerConnection, CLOSE_TIMEOUT_MS, within } from './broker-connection.ts';
import type { AmqpConnection, Channel, ConsumeMessage, ReconnectPolicy } from './broker-connection.ts';
import { busNames } from './bus.ts';
import { RealClock } from './clock.ts';
import type { Clock, ScheduledTask } from './clock.ts';
import type { Logger } from './logger.ts';

/** Why an incoming agent message was dropped. */
export const agentRejections = ['malformed', 'unknown-assembly', 'bad-mac', 'replayed', 'stale'] as const;
export type AgentRejection = (typeof agentRejections)[number];

export interface AgentChannelOptions {
  url: string;
  prefix: string;
  /** Names this service's heartbeat queue, `<prefix>.<consumer>.agents`. */
  consumer: string;
  /** Shown in the broker's connection list. */
  connectionName: string;
  logger: Logger;
  /** The installation secret, `DEFIB_AGENT_SECRET`: every assembly's key derives from it. */
  agentSecret: Uint8Array;
  /** Whether an assembly is one this installation runs; messages about others are dropped. Default: every assembly. */
  knowsAssembly?: (assemblyId: string) => boolean;
  /** The process clock: freshness of messages and reply deadlines. */
  clock?: Clock;
  /** How far a heartbeat's `sentAt` (a reply's `completedAt`) may lie from this process's clock. Default 60 s. */
  freshnessWindowMs?: number;
  /** Heartbeats in flight to this consumer. Default 500. */
  prefetch?: number;
  /**
   * Deletes this consumer's queues once unused for this long (`x-expires`): for consumers named per
   * process (a monitor replica's own copy of every heartbeat), so a replica that died does not
   * leave a queue filling up behind it. Queues are kept by default.
   */
  queueExpiresMs?: number;
  /**
   * Heartbeats older than this are dropped by the broker unread (`x-message-ttl`), and at most
   * `heartbeatQueueLimit` wait, the oldest dropped first (`x-max-length`, `drop-head`): a beat that
   * old says nothing any more, and a deep queue makes the broker itself slow (a classic queue
   * pages to disk), so a consumer that fell behind could never catch up. Unbounded by default.
   */
  heartbeatTtlMs?: number;
  heartbeatQueueLimit?: number;
  /** Metrics registry for the rejection counter; none by default. */
  registry?: Registry;
  reconnect?: ReconnectPolicy;
}

/** Why a command got no reply. */
export type AgentCommandFailure = 'no-agent-listening' | 'reply-timeout' | 'not-connected' | 'closed';

/** A command that got no reply, and why; carries the command's ids. */
export class AgentCommandError extends Error {
  readonly code: AgentCommandFailure;
  readonly commandId: string;
  readonly assemblyId: string;

  constructor(code: AgentCommandFailure, command: { commandId: string; assemblyId: string }, message: string) {
    super(message);
    this.name = 'AgentCommandError';
    this.code = code;
    this.commandId = command.commandId;
    this.assemblyId = command.assemblyId;
  }
}

interface PendingCommand {
  readonly assemblyId: string;
  readonly resolve: (reply: AgentReply) => void;
  readonly reject: (error: AgentCommandError) => void;
  readonly deadline: ScheduledTask;
}

/** Keys derived so far; HKDF per message would cost more than the HMAC itself. */
const KEY_CACHE_LIMIT = 100_000;
const ACK_FLUSH_MS = 20;
const DEFAULT_PING_TIMEOUT_MS = 2_000;

export class AgentChannel {
  readonly exchange: string;
  readonly #options: AgentChannelOptions;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #broker: BrokerConnection;
  readonly #names: ReturnType<typeof busNames>;
  readonly #guard: AgentReplayGuard;
  readonly #keys = new Map<string, AgentKey>();
  readonly #pending = new Map<string, PendingCommand>();
  readonly #rejected = Object.fromEntries(agentRejections.map((reason) => [reason, 0])) as Record<AgentRejection, number>;
  readonly #rejectedMetric: Counter<'kind' | 'reason'> | undefined;
  #onHeartbeat: ((heartbeat: Heartbeat) => void) | undefined;
  #channel: Channel | undefined;
  /** The latest heartbeat delivery not yet acknowledged, and how many are. */
  #unacked: ConsumeMessage | undefined;
  #unackedCount = 0;
  #ackTimer: NodeJS.Timeout | undefined;

  constructor(options: AgentChannelOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'agent-channel' });
    this.#clock = options.clock ?? new RealClock();
    this.#names = busNames(options.prefix);
    this.exchange = this.#names.agentsExchange;
    this.#guard = new AgentReplayGuard({ windowMs: options.freshnessWindowMs ?? 60_000 });
    this.#rejectedMetric =
      options.registry === undefined
        ? undefined
        : new Counter({ name: 'defib_agent_messages_rejected_total', help: 'Agent messages dropped unread: malformed, unknown assembly, bad MAC, replayed or stale.', labelNames: ['kind', 'reason'], registers: [options.registry] });
    this.#broker = new BrokerConnection({
      url: options.url,
      connectionName: options.connectionName,
      logger: this.#logger,
      ...(options.reconnect === undefined ? {} : { reconnect: options.reconnect }),
      onConnected: (connection) => this.#setUp(connection),
      onLost: () => this.#forget(),
    });
  }

  /** Receives every accepted heartbeat; set before `start` to consume heartbeats at all. */
  onHeartbeat(handler: (heartbeat: Heartbeat) => void): void {
    this.#onHeartbeat = handler;
  }

  /** Connects and declares the exchange and queues; rejects when the broker cannot be reached. */
  async start(): Promise<void> {
    await this.#broker.connect();
  }

  get connected(): boolean {
    return this.#channel !== undefined;
  }

  /** Messages dropped unread since start, by reason (heartbeats and replies together). */
  get rejections(): Readonly<Record<AgentRejection, number>> {
    return { ...this.#rejected };
  }

  /** Heartbeats waiting for this consumer at the broker (ready, not yet delivered); undefined while not connected. */
  async queueDepth(): Promise<number | undefined> {
    const channel = this.#channel;
    if (channel === undefined || this.#onHeartbeat === undefined) return undefined;
    const { messageCount } = await channel.checkQueue(this.#names.agentQueue(this.#options.consumer));
    return messageCount;
  }

  /**
   * Signs and sends a command to its assembly's agent; resolves with the agent's reply. Waits at
   * most `timeoutMs` (default: the command's own `deadlineMs`).
   */
  send(command: Unsigned<AgentCommand>, options: { timeoutMs?: number } = {}): Promise<AgentReply> {
    const channel = this.#channel;
    if (channel === undefined) return Promise.reject(new AgentCommandError('not-connected', command, 'the agent channel is not connected to the broker'));
    const timeoutMs = options.timeoutMs ?? command.deadlineMs;
    return new Promise<AgentReply>((resolve, reject) => {
      const deadline = this.#clock.schedule(timeoutMs, () => {
        if (this.#pending.delete(command.commandId)) reject(new AgentCommandError('reply-timeout', command, `no reply from assembly ${command.assemblyId} within ${timeoutMs} ms`));
      });
      this.#pending.set(command.commandId, { assemblyId: command.assemblyId, resolve, reject, deadline });
      const body = signAgentMessage(command, this.#keyFor(command.assemblyId));
      try {
        channel.publish(this.exchange, commandRoutingKey(command.assemblyId), body, { mandatory: true, messageId: command.commandId, contentType: 'application/json' });
      } catch (error) {
        this.#settle(command.commandId, undefined, new AgentCommandError('not-connected', command, `could not publish: ${String(error)}`));
      }
    });
  }

  /** Asks an agent for its boot, sequence and resources without waiting for a heartbeat. */
  async ping(assemblyId: string, options: { timeoutMs?: number } = {}): Promise<PingReply> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
    const reply = await this.send({ kind: 'command', protocol: 1, commandId: randomUUID(), assemblyId, action: 'ping', issuedAt: Math.floor(this.#clock.now()), deadlineMs: timeoutMs }, { timeoutMs });
    if (!isPingReply(reply)) throw new AgentCommandError('reply-timeout', reply, `assembly ${assemblyId} answered a ping with something else`);
    return reply;
  }

  /** Acknowledges what was handled, fails what waits for a reply, closes the connection. */
  async close(): Promise<void> {
    await this.#broker.close(async () => {
      this.#flushAcks();
      const channel = this.#channel;
      if (channel !== undefined) await within(channel.close(), CLOSE_TIMEOUT_MS);
    });
    this.#forget();
    for (const [commandId, pending] of [...this.#pending]) this.#settle(commandId, undefined, new AgentCommandError('closed', { commandId, assemblyId: pending.assemblyId }, 'the agent channel closed'));
  }

  /** On each new connection: the exchange, this consumer's queues, the consumers. */
  async #setUp(connection: AmqpConnection): Promise<void> {
    const names = this.#names;
    const { consumer } = this.#options;
    const channel = await connection.createChannel();
    channel.on('error', (error: unknown) => this.#logger.warn({ err: error }, 'agent channel error'));
    // A channel the broker closed under us: start over on a new connection.
    channel.on('close', () => {
      if (this.#channel === channel) connection.close().catch(() => undefined);
    });
    channel.on('return', (message: ConsumeMessage) => this.#returned(message));
    await channel.assertExchange(this.exchange, 'topic', { durable: true });
    await channel.assertExchange(names.deadLetterExchange, 'direct', { durable: true });
    const deadLetterQueue = names.agentDeadLetterQueue(consumer);
    const expires = this.#options.queueExpiresMs === undefined ? {} : { 'x-expires': this.#options.queueExpiresMs };
    await channel.assertQueue(deadLetterQueue, { durable: false, arguments: { 'x-queue-type': 'classic', 'x-max-length': 10_000, ...expires } });
    await channel.bindQueue(deadLetterQueue, names.deadLetterExchange, deadLetterQueue);
    await channel.prefetch(this.#options.prefetch ?? 500);
    if (this.#onHeartbeat !== undefined) {
      const queue = names.agentQueue(consumer);
      const { heartbeatTtlMs, heartbeatQueueLimit } = this.#options;
      // No dead-letter exchange on the queue: expired and overflowing beats are dropped, not moved;
      // an unreadable one is put in the dead-letter queue by hand (#heartbeat).
      await channel.assertQueue(queue, {
        durable: false,
        arguments: {
          'x-queue-type': 'classic',
          ...expires,
          ...(heartbeatTtlMs === undefined ? {} : { 'x-message-ttl': heartbeatTtlMs }),
          ...(heartbeatQueueLimit === undefined ? {} : { 'x-max-length': heartbeatQueueLimit, 'x-overflow': 'drop-head' }),
        },
      });
      await channel.bindQueue(queue, this.exchange, heartbeatRoutingKey('*'));
      await channel.consume(queue, (message) => this.#heartbeat(channel, message));
    }
    // Replies come to every sender of this installation (they are few); each keeps the ones it awaits.
    const { queue: replies } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await channel.bindQueue(replies, this.exchange, replyRoutingKey('*'));
    await channel.consume(replies, (message) => this.#reply(message), { noAck: true });
    this.#channel = channel;
  }

  #forget(): void {
    this.#channel = undefined;
    this.#unacked = undefined;
    this.#unackedCount = 0;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
  }

  #heartbeat(channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) return;
    const heartbeat = this.#read('heartbeat', parseHeartbeat, message.content);
    if (heartbeat === undefined) {
      // Kept in the dead-letter queue for someone to look at.
      if (this.#channel === channel) {
        try {
          channel.publish(this.#names.deadLetterExchange, this.#names.agentDeadLetterQueue(this.#options.consumer), message.content, { ...message.properties, headers: { ...message.properties.headers, 'x-defib-rejected': 'malformed' } });
        } catch (error) {
          this.#logger.debug({ err: error }, 'could not dead-letter an unreadable heartbeat; channel gone');
        }
      }
      this.#ack(channel, message);
      return;
    }
    const verdict = this.#judgeHeartbeat(message.content, heartbeat);
    if (verdict !== undefined) this.#reject('heartbeat', verdict);
    else {
      try {
        this.#onHeartbeat?.(heartbeat);
      } catch (error) {
        this.#logger.error({ err: error, assemblyId: heartbeat.assemblyId }, 'heartbeat handler failed');
      }
    }
    this.#ack(channel, message);
  }

  #judgeHeartbeat(body: Buffer, heartbeat: Heartbeat): AgentRejection | undefined {
    if (this.#options.knowsAssembly?.(heartbeat.assemblyId) === false) return 'unknown-assembly';
    if (!verifyAgentMessage(body, this.#keyFor(heartbeat.assemblyId))) return 'bad-mac';
    return this.#guard.admit(heartbeat.assemblyId, heartbeat, this.#clock.now());
  }

  /** Acknowledges in batches (`multiple`): a quarter of the prefetch, or what came within a few milliseconds. */
  #ack(channel: Channel, message: ConsumeMessage): void {
    if (this.#channel !== channel) return;
    this.#unacked = message;
    this.#unackedCount++;
    if (this.#unackedCount >= Math.max(1, Math.floor((this.#options.prefetch ?? 500) / 4))) this.#flushAcks();
    else this.#ackTimer ??= setTimeout(() => this.#flushAcks(), ACK_FLUSH_MS);
  }

  #flushAcks(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    const last = this.#unacked;
    this.#unacked = undefined;
    this.#unackedCount = 0;
    if (last === undefined || this.#channel === undefined) return;
    try {
      this.#channel.ack(last, true);
    } catch (error) {
      // The channel went away; the broker redelivers, and the replay guard refuses the repeats.
      this.#logger.debug({ err: error }, 'could not acknowledge heartbeats; channel gone');
    }
  }

  #reply(message: ConsumeMessage | null): void {
    if (message === null) return;
    const reply = this.#read('reply', parseAgentReply, message.content);
    if (reply === undefined) return;
    const pending = this.#pending.get(reply.commandId);
    // Another sender's command, or one given up on: not ours to judge.
    if (pending === undefined) return;
    if (reply.assemblyId !== pending.assemblyId || !verifyAgentMessage(message.content, this.#keyFor(pending.assemblyId))) {
      this.#reject('reply', 'bad-mac');
      return;
    }
    if (!this.#guard.fresh(reply.completedAt, this.#clock.now())) {
      this.#reject('reply', 'stale');
      return;
    }
    this.#settle(reply.commandId, reply);
  }

  /** The broker returned a command: no agent is bound for its assembly. */
  #returned(message: ConsumeMessage): void {
    const commandId = message.properties.messageId as string | undefined;
    const pending = commandId === undefined ? undefined : this.#pending.get(commandId);
    if (commandId === undefined || pending === undefined) return;
    this.#settle(commandId, undefined, new AgentCommandError('no-agent-listening', { commandId, assemblyId: pending.assemblyId }, `no agent is listening for assembly ${pending.assemblyId}`));
  }

  #settle(commandId: string, reply: AgentReply | undefined, error?: AgentCommandError): void {
    const pending = this.#pending.get(commandId);
    if (pending === undefined) return;
    this.#pending.delete(commandId);
    pending.deadline.cancel();
    if (reply !== undefined) pending.resolve(reply);
    else if (error !== undefined) pending.reject(error);
  }

  /** Parses a message body, counting it as malformed when the protocol does not know it. */
  #read<T>(kind: 'heartbeat' | 'reply', parse: (raw: unknown) => T, body: Buffer): T | undefined {
    try {
      return parse(body);
    } catch {
      this.#reject(kind, 'malformed');
      return undefined;
    }
  }

  #reject(kind: 'heartbeat' | 'reply', reason: AgentRejection): void {
    this.#rejected[reason]++;
    this.#rejectedMetric?.inc({ kind, reason });
  }

  #keyFor(assemblyId: string): AgentKey {
    let key = this.#keys.get(assemblyId);
    if (key === undefined) {
      if (this.#keys.size >= KEY_CACHE_LIMIT) this.#keys.clear();
      key = deriveAgentKey(this.#options.agentSecret, assemblyId);
      this.#keys.set(assemblyId, key);
    }
    return key;
  }
}
