/**
 * The notifier's composition root: kernel (database, bus, outbox, HTTP) → secret box, network
 * policy, senders → subscription catalogue, delivery log, event log, event intake and the delivery worker →
 * routes and the consumer of every catalogued event.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { DomainEvent } from '@defib/contracts';
import { type Clock, createServiceKernel, periodicWorker, type Logger, RealClock, SecretBox } from '@defib/platform';
import type { NotifierConfig } from './config.ts';
import { createDeliveryLog } from './deliveries.ts';
import { createEventLog } from './event-log.ts';
import { DELIVERIES_CHANNEL, deliveryRepository } from './delivery.repository.ts';
import { DeliveryWorker } from './delivery-worker.ts';
import { createMailer } from './email-sender.ts';
import { intakeHandlers, type IntakeResult } from './event-intake.ts';
import { createNotifierMetrics } from './metrics.ts';
import { notifierMigrations } from './migrations.ts';
import { createNetworkPolicy, createSystemResolver, type HostResolver } from './network-policy.ts';
import type { RandomSource } from './retry-schedule.ts';
import { notifierRoutes } from './routes.ts';
import { createSubscriptionCatalogue } from './subscriptions.ts';
import type { NotifierTables } from './tables.ts';
import { createWebhookSender } from './webhook-sender.ts';

export const NOTIFIER_VERSION = '0.1.0';
const PRUNE_INTERVAL_MS = 3_600_000;

export interface NotifierServiceOptions {
  logger?: Logger;
  /** Off to stand in for a process that dies between commit and publish. */
  relayOutbox?: boolean;
  /** DNS for webhook hosts; the system resolver by default (tests script it). */
  resolve?: HostResolver;
  /** Jitter source; `Math.random` by default. */
  random?: RandomSource;
  /** The process clock (timestamps of attempts, auto-disable checks); the system clock by default. */
  clock?: Clock;
  /** Names this process in leases and attempts; host and a random suffix by default. */
  workerId?: string;
  /** Called after an event was taken in (tests, benchmarks). */
  onTaken?: (event: DomainEvent, result: IntakeResult) => void;
  /** Called after each attempt's outcome is committed (tests, benchmarks). */
  onAttempted?: (delivery: { id: string; status: string }) => void;
}

export function createNotifierService(config: NotifierConfig, options: NotifierServiceOptions = {}) {
  const kernel = createServiceKernel<NotifierTables>({
    name: 'notifier',
    version: NOTIFIER_VERSION,
    config,
    migrations: notifierMigrations,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.relayOutbox === undefined ? {} : { relayOutbox: options.relayOutbox }),
  });
  const { db } = kernel.database;
  const processClock = options.clock ?? new RealClock();
  const clock = () => new Date(processClock.now());
  const secrets = SecretBox.fromBase64(config.secretKey);
  const policy = createNetworkPolicy(config.allowedNetworks);
  const resolve = options.resolve ?? createSystemResolver();
  const metrics = createNotifierMetrics(kernel.metrics, () => deliveryRepository.oldestPendingSeconds(db));
  const mailer = config.email.smtpUrl === undefined ? undefined : createMailer({ smtpUrl: config.email.smtpUrl, from: config.email.from, timeoutMs: config.email.timeoutMs });
  const webhooks = createWebhookSender({ maxSockets: Math.max(8, config.concurrency) });
  const worker = new DeliveryWorker({
    db,
    outbox: kernel.outbox,
    logger: kernel.logger,
    metrics,
    secrets,
    policy,
    resolve,
    webhooks,
    mailer,
    settings: config,
    random: options.random ?? Math.random,
    clock,
    workerId: options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    ...(options.onAttempted === undefined ? {} : { onAttempted: options.onAttempted }),
  });
  const subscriptions = createSubscriptionCatalogue({
    db,
    secrets,
    policy,
    resolve,
    defaultRateLimit: config.defaultRateLimit,
    defaultOverlapMs: config.secretOverlapMs,
    emailEnabled: mailer !== undefined,
    clock,
    onChange: () => worker.poke(),
  });
  const deliveries = createDeliveryLog(db, () => worker.poke());
  const routes = notifierRoutes({ subscriptions, deliveries, events: createEventLog(db) });
  const intake = { defaultRateLimit: config.defaultRateLimit, groupMaxEvents: config.groupMaxEvents, clock };
  kernel.consume(intakeHandlers(intake), {
    prefetch: 64,
    onHandled(event, handled) {
      if (handled.duplicate) return;
      metrics.eventConsumed(handled.result.subscriptions > 0);
      if (handled.result.subscriptions > 0) worker.poke();
      options.onTaken?.(event, handled.result);
    },
  });
  const pruner = periodicWorker({
    name: 'delivery-pruner',
    intervalMs: PRUNE_INTERVAL_MS,
    logger: kernel.logger,
    async run() {
      const removed = await deliveryRepository.prune(db, config.retentionMs);
      if (removed > 0) kernel.logger.info({ removed }, 'pruned finished deliveries past retention');
    },
  });

  return {
    kernel,
    subscriptions,
    deliveries,
    worker,
    start: () =>
      kernel.start({
        routes,
        openapi: { title: 'Defib notifier', description: 'Subscriptions, signed webhook and email delivery with durable retries, the delivery log and replay, the event log.' },
        workers: [worker, kernel.listen(DELIVERIES_CHANNEL, () => worker.poke()), pruner],
      }),
    async stop() {
      await kernel.stop();
      webhooks.close();
      mailer?.close();
    },
  };
}

export type NotifierService = ReturnType<typeof createNotifierService>;
