/**
 * What every Defib service is built on, so no two services assemble it differently: a database
 * with the service's own schema and migrations, the bus, the outbox relay, a metrics registry,
 * and an HTTP server with the shared endpoints. A service's composition root creates the kernel,
 * builds its repositories, domain logic, routes and consumers on top, then starts it.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { Bus } from './bus.ts';
import { ConfigError, type ServiceConfig } from './config.ts';
import { createDatabase, listenForNotifications, migrateToLatest, type Database, type Migrations } from './database.ts';
import { createHttpApp, startHttpServer, type Route, type RunningHttpServer } from './http/index.ts';
import { createLogger, type Logger } from './logger.ts';
import { OutboxRelay, outboxLagSeconds, type PlatformTables } from './outbox.ts';

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

export interface ServiceKernel<DB extends PlatformTables> {
  readonly name: string;
  readonly logger: Logger;
  readonly database: Database<DB>;
  readonly bus: Bus;
  readonly metrics: Registry;
  readonly relay: OutboxRelay | undefined;
  /** Migrates, connects, starts consumers (`subscribe`) and the relay, then serves `routes`. */
  start(app: { routes: readonly Route[]; openapi: { title: string; description?: string }; subscribe?: () => Promise<void> }): Promise<{ url: string; port: number }>;
  /** Stops serving (draining requests), consuming and relaying, then closes connections. */
  stop(): Promise<void>;
}

export function createServiceKernel<DB extends PlatformTables>(options: ServiceKernelOptions): ServiceKernel<DB> {
  const { config, name } = options;
  const logger = options.logger ?? createLogger({ service: name, level: config.logLevel });
  const database = createDatabase<DB>({ url: config.databaseUrl, schema: name.replace(/-/g, '_'), logger, applicationName: `defib-${name}`, poolSize: config.databasePoolSize });
  const bus = new Bus({ url: config.amqpUrl, prefix: config.busPrefix, connectionName: `defib-${name}`, logger });
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
  let server: RunningHttpServer | undefined;
  let stopped = false;

  return {
    name,
    logger,
    database,
    bus,
    metrics,
    relay,
    async start(app) {
      await migrateToLatest(database, options.migrations, logger);
      await bus.start();
      await app.subscribe?.();
      await relay?.start();
      const http = createHttpApp({
        service: name,
        version: options.version,
        logger,
        auth: config.auth,
        bodyLimitBytes: config.bodyLimitBytes,
        routes: app.routes,
        readiness: [
          { name: 'database', check: () => database.ping() },
          { name: 'broker', check: () => bus.ping() },
        ],
        metrics,
        openapi: app.openapi,
      });
      server = await startHttpServer(http, { port: config.port, host: config.host, logger, shutdownGraceMs: config.shutdownGraceMs });
      return { url: server.url, port: server.port };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server?.close();
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
