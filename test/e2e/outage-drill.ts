/**
 * The database-outage drill the end-to-end tests share: a real registry and notifier process on
 * one database, a webhook receiver subscribed to `deployable.applied`, and a burst of applies
 * during which the test takes the database away. The client behaves as a user's would: it tries
 * again after a 503 (honouring `Retry-After`) or a broken connection.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { wordpressManifest } from '@defib/contracts/testing';
import { busTopology } from '@defib/platform';
import { eventsOf, startWebhookReceiver, type WebhookReceiver } from '../../services/notifier/test/webhook-receiver.ts';
import { createIsolatedBus, startServiceProcess, waitFor, type IsolatedBus, type ServiceProcess } from '../support/index.ts';

const ADMIN_TOKEN = 'admin-token-outage-drill-0123';

export interface OutageStack {
  registry: ServiceProcess;
  notifier: ServiceProcess;
  receiver: WebhookReceiver;
  close(): Promise<void>;
}

/**
 * Starts the registry and the notifier on `databaseUrl` (and the shared broker, or `amqpUrl`),
 * registers a cloud and subscribes the receiver.
 */
export async function startOutageStack(databaseUrl: string, amqpUrl?: string): Promise<OutageStack> {
  const bus: IsolatedBus = createIsolatedBus();
  const receiver = await startWebhookReceiver();
  const env = {
    DATABASE_URL: databaseUrl,
    AMQP_URL: amqpUrl ?? bus.url,
    BUS_PREFIX: bus.prefix,
    DEFIB_ADMIN_TOKEN: ADMIN_TOKEN,
    DEFIB_SECRET_KEY: randomBytes(32).toString('base64'),
    NOTIFIER_ALLOWED_NETWORKS: '127.0.0.0/8',
    NOTIFIER_RETRY_INITIAL_DELAY: '1s',
    NOTIFIER_RETRY_MULTIPLIER: '1',
  };
  const [registry, notifier] = await Promise.all([startServiceProcess('registry', env), startServiceProcess('notifier', env)]);
  const cloud = await call(registry.url, 'PUT', '/v1/clouds/sim-ec2', {
    provider: 'ec2',
    endpoint: 'http://127.0.0.1:7200/ec2/',
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret-key-value' },
  });
  if (cloud.status !== 201) throw new Error(`registering the cloud answered ${cloud.status}`);
  const subscription = await call(notifier.url, 'POST', '/v1/subscriptions', { kind: 'webhook', url: `${receiver.url}/applied`, eventTypes: ['deployable.applied'], rateLimit: null });
  if (subscription.status !== 201) throw new Error(`subscribing answered ${subscription.status}`);
  return {
    registry,
    notifier,
    receiver,
    async close() {
      await Promise.all([registry.kill('SIGTERM'), notifier.kill('SIGTERM')]);
      await receiver.close();
      if (amqpUrl === undefined) await bus.cleanUp(busTopology(bus.prefix, ['registry', 'notifier']));
    },
  };
}

function call(baseUrl: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
}

/** What the drill saw. */
export interface OutageReport {
  /** Per applied deployable, the final status of its apply (201 expected for all). */
  applied: Map<string, number>;
  /** 503 answers the applies got while the database was away (each named `Retry-After`). */
  unavailableAnswers: { retryAfter: string | null; code: unknown }[];
  /** Readiness answers seen per part, in order, collapsed to changes: e.g. `[200, 503, 200]`. */
  readiness: { registry: number[]; notifier: number[] };
  /** The `checks` of the first 503 readiness answer of each part. */
  notReadyChecks: { registry?: unknown; notifier?: unknown };
  /** Milliseconds from `outage` resolving until both parts answered ready again. */
  backToReadyMs: number;
}

/**
 * Applies `count` manifests one after another (4 in flight) and, once `outageAfter` have been
 * accepted, runs `outage` (which takes the database away and brings it back) while the burst
 * goes on. Resolves when every apply was accepted and both parts are ready again.
 */
export async function applyBurstThroughOutage(stack: OutageStack, options: { count: number; outageAfter: number; outage: () => Promise<void>; names?: string }): Promise<OutageReport> {
  // Each burst starts from a ready stack (an earlier drill's reconnection may still be under way).
  const ready = async (url: string) => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).status === 200;
  await waitFor(async () => ((await ready(stack.registry.url)) && (await ready(stack.notifier.url)) ? true : undefined), { what: 'both parts ready before the burst', timeoutMs: 30_000 });
  const applied = new Map<string, number>();
  const unavailableAnswers: OutageReport['unavailableAnswers'] = [];
  const readiness = { registry: [] as number[], notifier: [] as number[] };
  const readySince = { registry: 0, notifier: 0 };
  const notReadyChecks: OutageReport['notReadyChecks'] = {};
  let watching = true;
  const watchReadiness = async (part: 'registry' | 'notifier', url: string) => {
    while (watching) {
      const answer: { status: number; body: { checks?: unknown } } = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
        async (response) => ({ status: response.status, body: (await response.json()) as { checks?: unknown } }),
        () => ({ status: 0, body: {} }),
      );
      const seen = readiness[part];
      if (seen[seen.length - 1] !== answer.status) {
        seen.push(answer.status);
        if (answer.status === 200) readySince[part] = Date.now();
      }
      if (answer.status === 503 && notReadyChecks[part] === undefined) notReadyChecks[part] = answer.body.checks;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const watchers = [watchReadiness('registry', stack.registry.url), watchReadiness('notifier', stack.notifier.url)];

  let outageDone: Promise<number> | undefined;
  const apply = async (name: string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const response = await call(stack.registry.url, 'PUT', `/v1/deployables/${name}`, wordpressManifest({ name, cloud: 'sim-ec2' })).catch(() => undefined);
      if (response?.status === 201 || response?.status === 200) {
        applied.set(name, response.status);
        if (applied.size === options.outageAfter && outageDone === undefined) outageDone = options.outage().then(() => Date.now());
        return;
      }
      if (response !== undefined && response.status !== 503) throw new Error(`applying ${name} answered ${response.status}: ${await response.text()}`);
      if (response !== undefined) {
        const problem = (await response.json()) as { code?: unknown };
        unavailableAnswers.push({ retryAfter: response.headers.get('retry-after'), code: problem.code });
      }
      if (Date.now() > deadline) throw new Error(`applying ${name} did not go through within 60 s`);
      const retryAfterMs = Number(response?.headers.get('retry-after') ?? '0.2') * 1000;
      await new Promise((resolve) => setTimeout(resolve, Math.min(retryAfterMs, 500)));
    }
  };
  const names = Array.from({ length: options.count }, (_, index) => `${options.names ?? 'burst'}-${index}`);
  const lanes = Array.from({ length: 4 }, async (_, lane) => {
    for (let index = lane; index < names.length; index += 4) await apply(names[index] as string);
  });
  try {
    await Promise.all(lanes);
    const outageEndedAt = await (outageDone ?? Promise.reject(new Error('the outage never started')));
    await waitFor(() => (readiness.registry.at(-1) === 200 && readiness.notifier.at(-1) === 200 ? true : undefined), { what: 'both parts ready again', timeoutMs: 30_000 });
    // The history up to the moment both were ready again: the watchers run on until `finally`, and
    // a check that misses its deadline on a loaded machine must not rewrite what the drill saw.
    const history = { registry: [...readiness.registry], notifier: [...readiness.notifier] };
    return { applied, unavailableAnswers, readiness: history, notReadyChecks, backToReadyMs: Math.max(0, readySince.registry - outageEndedAt, readySince.notifier - outageEndedAt) };
  } finally {
    watching = false;
    await Promise.all(watchers);
  }
}

/** The event ids the receiver got, each with how many requests carried it and under how many `webhook-id`s. */
function receivedEvents(receiver: WebhookReceiver): Map<string, { requests: number; webhookIds: Set<string>; deployable: string }> {
  const events = new Map<string, { requests: number; webhookIds: Set<string>; deployable: string }>();
  for (const request of receiver.requests) {
    for (const event of eventsOf(request)) {
      const entry = events.get(event.id) ?? { requests: 0, webhookIds: new Set<string>(), deployable: event.subject.deployable ?? '' };
      entry.requests += 1;
      entry.webhookIds.add(request.headers['webhook-id'] ?? '');
      events.set(event.id, entry);
    }
  }
  return events;
}

/**
 * What every drill promises: neither process exited, every apply went through, readiness came
 * back within seconds, and the receiver got each announcement exactly once as a receiver
 * deduplicating by `webhook-id` sees it. A database outage also refuses applies (503 with
 * `Retry-After`) and takes readiness down; a broker outage does neither to applies, whose events
 * wait in the outbox.
 */
export async function expectNothingLost(stack: OutageStack, report: OutageReport, expected: { appliesRefused: boolean; readinessDips: boolean }): Promise<void> {
  const count = report.applied.size;
  expect(stack.registry.child.exitCode).toBeNull();
  expect(stack.notifier.child.exitCode).toBeNull();
  expect([...report.applied.values()].every((status) => status === 201)).toBe(true);
  if (expected.appliesRefused) {
    expect(report.unavailableAnswers.length).toBeGreaterThan(0);
    expect(report.unavailableAnswers.every((answer) => answer.code === 'unavailable' && answer.retryAfter !== null)).toBe(true);
  } else {
    expect(report.unavailableAnswers).toEqual([]);
  }
  if (expected.readinessDips) {
    expect(report.readiness.registry).toEqual([200, 503, 200]);
    expect(report.readiness.notifier).toEqual([200, 503, 200]);
  }
  expect(report.readiness.registry.at(-1)).toBe(200);
  expect(report.readiness.notifier.at(-1)).toBe(200);
  expect(report.backToReadyMs).toBeLessThan(10_000);
  const ofThisBurst = () => [...receivedEvents(stack.receiver).values()].filter((event) => report.applied.has(event.deployable));
  const announced = await waitFor(() => {
    const received = ofThisBurst();
    return new Set(received.map((event) => event.deployable)).size >= count ? received : undefined;
  }, { what: `all ${count} applies delivered to the webhook`, timeoutMs: 30_000 });
  expect(new Set(announced.map((event) => event.deployable))).toEqual(new Set(report.applied.keys()));
  expect(announced).toHaveLength(count);
  expect(announced.every((event) => event.webhookIds.size === 1)).toBe(true);
}
