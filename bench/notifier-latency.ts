/**
 * How fast the notifier turns a published event into a signed webhook call: runs a real notifier
 * against the local PostgreSQL and RabbitMQ (a database and bus prefix of its own, removed at the
 * end) and a local receiver, then
 *   1. publishes events at --rate per second for --seconds and prints the p50/p95/p99/max latency
 *      from publish to the receiver having the request;
 *   2. publishes --burst events as fast as it can and prints the deliveries per second one
 *      notifier process sustains end to end (consume → delivery row → signed POST → recorded).
 *
 *   node bench/notifier-latency.ts [--rate 200] [--seconds 10] [--burst 5000] [--concurrency 32]
 *
 * DATABASE_URL / AMQP_URL override the local defaults.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDomainEvent } from '@defib/contracts';
import { Bus, busTopology, createLogger, deleteBusObjects, processEnvironment } from '@defib/platform';
import { createNotifierService, type NotifierConfig } from '../services/notifier/src/index.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    burst: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '32' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const burst = Number(values.burst);
const concurrency = Number(values.concurrency);
const databaseUrl = processEnvironment().DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const amqpUrl = processEnvironment().AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const databaseName = `defib_bench_${suffix}`;
const prefix = `bench-${suffix}`;
const ADMIN_TOKEN = randomBytes(24).toString('hex');
const PHASE_TIMEOUT_MS = 120_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** Publish times by event id, and what the receiver saw. */
const publishedAt = new Map<string, number>();
const latencies: number[] = [];
let received = 0;
let onReceived: () => void = () => undefined;

const receiver = createServer((request: IncomingMessage, response: ServerResponse) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const now = performance.now();
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { id: string } };
    const at = publishedAt.get(body.data.id);
    if (at !== undefined) {
      latencies.push(now - at);
      publishedAt.delete(body.data.id);
    }
    received += 1;
    response.writeHead(204).end();
    onReceived();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/bench`;

const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
await admin.query(`create database ${pg.escapeIdentifier(databaseName)}`);
const url = new URL(databaseUrl);
url.pathname = `/${databaseName}`;

const config: NotifierConfig = {
  port: 0,
  host: '127.0.0.1',
  databaseUrl: url.toString(),
  databasePoolSize: 30,
  amqpUrl,
  busPrefix: prefix,
  logLevel: 'warn',
  auth: { adminToken: ADMIN_TOKEN, readTokens: [], openReads: false },
  bodyLimitBytes: 1_048_576,
  shutdownGraceMs: 2_000,
  secretKey: randomBytes(32).toString('base64'),
  retry: { attempts: 12, initialDelayMs: 5_000, multiplier: 3, maxDelayMs: 6 * 3_600_000, jitter: 0.2 },
  attemptTimeoutMs: 10_000,
  leaseMs: 40_000,
  concurrency,
  pollIntervalMs: 1_000,
  allowedNetworks: ['127.0.0.0/8'],
  secretOverlapMs: 86_400_000,
  autoDisable: { afterMs: 3 * 86_400_000, minFailures: 10 },
  defaultRateLimit: { burst: 10, perMinute: 60, groupWindowMs: 10_000 },
  groupMaxEvents: 100,
  retentionMs: 30 * 86_400_000,
  email: { smtpUrl: undefined, from: 'Defib <defib@localhost>', timeoutMs: 10_000 },
};
const logger = createLogger({ service: 'notifier', level: 'warn' });
const notifier = createNotifierService(config, { logger });
const publisher = new Bus({ url: amqpUrl, prefix, connectionName: 'bench-publisher', logger: createLogger({ service: 'bench', level: 'warn' }) });

const subject = { deployableId: randomUUID(), deployable: 'wordpress', assemblyId: randomUUID(), assembly: 'db' };
const publishOne = async (index: number) => {
  const event = createDomainEvent('assembly.failed', { subject, data: { instanceId: `i-${index}`, cloudStatus: 'ERROR' }, correlationId: randomUUID() });
  publishedAt.set(event.id, performance.now());
  await publisher.publish({ id: event.id, routingKey: event.type, body: event, type: event.type, correlationId: event.correlationId });
};

const until = (count: number, what: string) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${received}/${count}`)), PHASE_TIMEOUT_MS);
    onReceived = () => {
      if (received >= count) {
        clearTimeout(timer);
        resolve();
      }
    };
    onReceived();
  });

try {
  const { url: notifierUrl } = await notifier.start();
  await publisher.start();
  const created = await fetch(`${notifierUrl}/v1/subscriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    // Storm control off: this measures every event delivered on its own.
    body: JSON.stringify({ kind: 'webhook', url: receiverUrl, eventTypes: ['assembly.failed'], rateLimit: null }),
  });
  if (created.status !== 201) throw new Error(`could not subscribe: ${created.status} ${await created.text()}`);

  // Warm-up: connections, JIT, prepared plans.
  for (let index = 0; index < 50; index += 1) await publishOne(index);
  await until(50, 'the warm-up');
  latencies.length = 0;
  received = 0;

  // 1. Latency at a steady rate.
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const publishing: Promise<void>[] = [];
  for (let index = 0; index < total; index += 1) {
    const due = started + (index * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    publishing.push(publishOne(index));
  }
  await Promise.all(publishing);
  await until(total, 'the steady-rate events');
  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(`steady rate: ${total} events at ${rate}/s over ${seconds} s (storm control off, ${concurrency} concurrent attempts)`);
  console.log(
    `  publish → webhook received: p50 ${round(percentile(sorted, 50))} ms, p95 ${round(percentile(sorted, 95))} ms, p99 ${round(percentile(sorted, 99))} ms, max ${round(sorted.at(-1) ?? Number.NaN)} ms`,
  );

  // 2. Sustained throughput.
  latencies.length = 0;
  received = 0;
  const burstStarted = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let index = 0; index < burst; index += 1) {
    inFlight.push(publishOne(index));
    if (inFlight.length >= 500) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  const publishedMs = performance.now() - burstStarted;
  await until(burst, 'the burst');
  const burstMs = performance.now() - burstStarted;
  const burstSorted = [...latencies].sort((a, b) => a - b);
  console.log(`burst: ${burst} events published in ${Math.round(publishedMs)} ms (${Math.round((burst / publishedMs) * 1000)}/s)`);
  console.log(`  delivered in ${Math.round(burstMs)} ms: ${Math.round((burst / burstMs) * 1000)} deliveries/s sustained by one notifier process; p50 ${round(percentile(burstSorted, 50))} ms, p99 ${round(percentile(burstSorted, 99))} ms publish → received`);
} finally {
  await publisher.close();
  await notifier.stop();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  // Closed clients leave the server a moment later; dropping under them would make them report errors.
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const { rows } = await admin.query<{ count: string }>('select count(*) from pg_stat_activity where datname = $1', [databaseName]);
    if (rows[0]?.count === '0') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await admin.query(`drop database if exists ${pg.escapeIdentifier(databaseName)} with (force)`);
  await admin.end();
  await deleteBusObjects(amqpUrl, busTopology(prefix, ['notifier', 'bench-publisher']));
}
