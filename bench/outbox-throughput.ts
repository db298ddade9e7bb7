/**
 * How fast the transactional outbox moves events: commits N events (in transactions of B), lets
 * R relays publish them with confirms to a consumer, and prints events/s from commit to receipt
 * and the commit→receive latency percentiles.
 *
 *   node bench/outbox-throughput.ts [--events 20000] [--batch 10] [--relays 1]
 *
 * Uses the local PostgreSQL and RabbitMQ (DATABASE_URL / AMQP_URL to override), in a database
 * and with exchange/queue names of its own that it removes at the end.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Bus, busTopology, createDatabase, deleteBusObjects, createLogger, enqueueEvents, listenForNotifications, migrateToLatest, OutboxRelay, platformMigrations, processEnvironment, type PlatformTables } from '@defib/platform';

const { values } = parseArgs({ options: { events: { type: 'string', default: '20000' }, batch: { type: 'string', default: '10' }, relays: { type: 'string', default: '1' } } });
const total = Number(values.events);
const batchSize = Number(values.batch);
const relayCount = Number(values.relays);
const databaseUrl = processEnvironment().DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const amqpUrl = processEnvironment().AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const logger = createLogger({ service: 'bench', level: 'warn' });
const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const databaseName = `defib_bench_${suffix}`;
const prefix = `bench-${suffix}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
await admin.query(`create database ${pg.escapeIdentifier(databaseName)}`);
const url = new URL(databaseUrl);
url.pathname = `/${databaseName}`;
const database = createDatabase<PlatformTables>({ url: url.toString(), schema: 'bench', logger, poolSize: 10 });
const bus = new Bus({ url: amqpUrl, prefix, connectionName: 'bench', logger });
const relays: OutboxRelay[] = [];
try {
  await migrateToLatest(database, platformMigrations, logger);
  await bus.start();
  const committedAt = new Map<string, number>();
  const latencies: number[] = [];
  let done: () => void = () => undefined;
  const allReceived = new Promise<void>((resolve) => (done = resolve));
  await bus.consume({
    consumer: 'sink',
    bindings: ['#'],
    prefetch: 500,
    handle(message) {
      const id = message.properties.messageId as string;
      const at = committedAt.get(id);
      if (at !== undefined) {
        latencies.push(performance.now() - at);
        committedAt.delete(id);
        if (latencies.length === total) done();
      }
      return Promise.resolve('ack');
    },
  });
  for (let index = 0; index < relayCount; index += 1) {
    const relay = new OutboxRelay({
      db: database.db,
      schema: database.schema,
      bus,
      logger,
      batchSize: 200,
      listen: (channel, onNotify) => listenForNotifications(database.pool, channel, onNotify, logger),
    });
    await relay.start();
    relays.push(relay);
  }

  const started = performance.now();
  const writers = 4;
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      for (let sent = writer * batchSize; sent < total; sent += writers * batchSize) {
        const events = Array.from({ length: Math.min(batchSize, total - sent) }, () => ({ id: randomUUID(), type: 'bench.happened', correlationId: randomUUID(), data: { padding: 'x'.repeat(200) } }));
        await database.db.transaction().execute(async (trx) => {
          await enqueueEvents(trx, database.schema, events);
        });
        const now = performance.now();
        for (const event of events) committedAt.set(event.id, now);
      }
    }),
  );
  const committed = performance.now();
  const timeout = setTimeout(() => done(), 120_000);
  await allReceived;
  clearTimeout(timeout);
  const finished = performance.now();
  latencies.sort((a, b) => a - b);
  console.log(`outbox: ${total} events in transactions of ${batchSize}, ${relayCount} relay(s)`);
  console.log(`  committed:            ${(total / ((committed - started) / 1000)).toFixed(0)} events/s`);
  console.log(`  commit → received:    ${(latencies.length / ((finished - started) / 1000)).toFixed(0)} events/s end to end (${latencies.length}/${total} received)`);
  console.log(`  latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${(latencies.at(-1) ?? Number.NaN).toFixed(1)} ms`);
} finally {
  for (const relay of relays) await relay.stop();
  await bus.close();
  await database.close();
  await admin.query(`drop database if exists ${pg.escapeIdentifier(databaseName)} with (force)`);
  await admin.end();
  await deleteBusObjects(amqpUrl, busTopology(prefix, ['sink']));
}
