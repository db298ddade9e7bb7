/**
 * What every Defib service is built on, so no two services assemble it differently: a database
 * with the service's own schema and migrations, the bus, the outbox and its relay, the inbox in
 * front of every consumer, background workers, a metrics registry, and an HTTP server with the
 * shared endpoints. A service's composition root creates the kernel, builds its repositories,
 * domain logic, routes, consumers (`consume`) and workers on top, then starts it.
 */
import type { DomainEvent } from '@defib/contracts';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { BackgroundWorker } from './background-worker.ts';
import { Bus } from './bus.ts';
import { ConfigError, type ServiceConfig } from './config.ts';
import { createDatabase, listenForNotifications, migrateToLatest, type Database, type Migrations } from './database.ts';
import { consumeDomainEvents, throughInbox, type Handled, type InboxHandlers } from './event-consumer.ts';
import { createHttpApp, startHttpServer, type ReadinessCheck, type Route, type RunningHttpServer } from './http/index.ts';
import { createLogger, type Logger } from './logger.ts';
import { createOutbox, OutboxRelay, outboxLagSeconds, type Outbox, type PlatformTables } from './outbox.ts';

export interface ServiceKernelOptions {
  /** `registry`, `monitor` …: names the schema, the queue and the logs. */
  name: string;
  version: string;
  config: ServiceConfig;
  migrations: Migrations;
  logger?: Logger;
  /** Whether this process relays its outbox (on by default; off to test a crash before publishing). */
  relayOutbox?: boolean;
}

export interface ConsumeOptions<R> {
  prefetch?: number;
  deliveryLimit?: number;
  /** Hears about every consumed event after its transaction committed, duplicates included. */
  onHandled?: (event: DomainEvent, handled: Handled<R>) => void;
}

/** What a service serves and runs once the kernel is up. */
export interface ServiceParts {
  routes: readonly Route[];
  openapi: { title: string; description?: string };
  /** Started in order after migrations, the bus, the consumers and the relay; stopped in reverse before the database closes. */
  workers?: readonly BackgroundWorker[];
  /** Checked by `/readyz` after the database and the broker; a failing one makes it answer 503 naming it. */
  readiness?: readonly ReadinessCheck[];
}

export interface ServiceKernel<DB extends PlatformTables> {
  readonly name: string;
  readonly logger: Logger;
  readonly database: Database<DB>;
  readonly bus: Bus;
  readonly metrics: Registry;
  readonly outbox: Outbox<DB>;
  readonly relay: OutboxRelay | undefined;
  /**
   * Consumes, from `start` on, the events `handlers` has a handler for, each inside the inbox
   * transaction (the handler gets it as `trx`). Called once per service, before `start`; a handler
   * for an event the catalogue does not define fails `start`. (A consumer that must not go
   * through the inbox is the exception: it calls `consumeDomainEvents(kernel.bus, …)` itself.)
   */
  consume<R = void>(handlers: InboxHandlers<DB, R>, options?: ConsumeOptions<R>): void;
  /** A worker that holds a LISTEN connection on `channel` and calls `onNotify` for each notification (and once when it (re)connects). */
  listen(channel: string, onNotify: () => void): BackgroundWorker;
  /** Migrates, connects, starts consumers, the relay and the workers, then serves the routes. */
  start(parts: ServiceParts): Promise<{ url: string; port: number }>;
  /** Stops serving (draining requests), the workers, relaying and consuming, then closes connections. */
  stop(): Promise<void>;
}

export function createServiceKernel<DB extends PlatformTables>(options: ServiceKernelOptions): ServiceKernel<DB> {
  const { config, name } = options;
  const logger = options.logger ?? createLogger({ service: name, level: config.logLevel });
  const database = createDatabase<DB>({ url: config.databaseUrl, schema: name.replace(/-/g, '_'), logger, applicationName: `defib-${name}`, poolSize: config.databasePoolSize });
  const bus = new Bus({ url: config.amqpUrl, prefix: config.busPrefix, connectionName: `defib-${name} ${config.busPrefix}`, logger });
  const metrics = new Registry();
  metrics.setDefaultLabels({ service: name });
  collectDefaultMetrics({ register: metrics });
  const published = new Counter({ name: 'defib_outbox_published_total', help: 'Events the outbox relay published and marked sent.', registers: [metrics] });
  const platformDb = database.db as unknown as Parameters<typeof outboxLagSeconds>[0];
  new Gauge({
    name: 'defib_outbox_oldest_pending_seconds',
    help: 'Age of the oldest event not yet confirmed by the broker.',
    registers: [metrics],
    async collect() {
      this.set(await outboxLagSeconds(platformDb).catch(() => -1));
    },
  });
  const relay =
    options.relayOutbox === false
      ? undefined
      : new OutboxRelay({
          db: platformDb,
          schema: database.schema,
          bus,
          logger,
          listen: (channel, onNotify) => listenForNotifications(database.pool, channel, onNotify, logger),
          onPublished: (count) => published.inc(count),
        });
  const outbox = createOutbox<DB>(database.schema);
  let consumer: (() => Promise<void>) | undefined;
  const running: BackgroundWorker[] = [];
  let server: RunningHttpServer | undefined;
  let started = false;
  let stopped = false;

  return {
    name,
    logger,
    database,
    bus,
    metrics,
    outbox,
    relay,
    consume(handlers, consumeOptions = {}) {
      if (consumer !== undefined) throw new Error(`${name} already consumes; pass every handler to one consume()`);
      if (started) throw new Error(`${name} is started; consume() before start()`);
      const { onHandled, ...queue } = consumeOptions;
      consumer = () => consumeDomainEvents(bus, { consumer: name, handlers: throughInbox(database.db, handlers, onHandled), logger, ...queue });
    },
    listen(channel, onNotify) {
      let unlisten: (() => Promise<void>) | undefined;
      return {
        name: `listener ${channel}`,
        async start() {
          unlisten = await listenForNotifications(database.pool, channel, onNotify, logger);
        },
        async stop() {
          await unlisten?.();
          unlisten = undefined;
        },
      };
    },
    async start(parts) {
      started = true;
      await migrateToLatest(database, options.migrations, logger);
      await bus.start();
      await consumer?.();
      await relay?.start();
      for (const worker of parts.workers ?? []) {
        await worker.start();
        running.push(worker);
        logger.debug({ worker: worker.name }, 'worker started');
      }
      const http = createHttpApp({
        service: name,
        version: options.version,
        logger,
        auth: config.auth,
        bodyLimitBytes: config.bodyLimitBytes,
        routes: parts.routes,
        readiness: [{ name: 'database', check: () => database.ping() }, { name: 'broker', check: () => bus.ping() }, ...(parts.readiness ?? [])],
        metrics,
        openapi: parts.openapi,
      });
      server = await startHttpServer(http, { port: config.port, host: config.host, logger, shutdownGraceMs: config.shutdownGraceMs });
      return { url: server.url, port: server.port };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server?.close();
      // Workers may still write: they stop, newest first, while the pool is open.
      for (const worker of running.splice(0).reverse()) {
        try {
          await worker.stop();
        } catch (error) {
          logger.error({ err: error, worker: worker.name }, 'worker did not stop cleanly');
        }
      }
      await relay?.stop();
      await bus.close();
      await database.close();
      logger.info('stopped');
    },
  };
}

/**
 * The body of every service's `main.ts`: builds the service (a bad environment is reported, every
 * variable at once, and the process exits 2), runs it until SIGTERM/SIGINT, then stops it
 * gracefully; exits 1 if start-up fails.
 */
export function runService(build: () => { service: { start(): Promise<unknown>; stop(): Promise<void> }; logger: Logger }): void {
  let built: ReturnType<typeof build>;
  try {
    built = build();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { service, logger } = built;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  service.start().catch((error: unknown) => {
    logger.fatal({ err: error }, 'start-up failed');
    process.exit(1);
  });
}
