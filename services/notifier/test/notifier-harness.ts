/**
 * Runs real notifiers for integration tests: their own database and bus prefix, a spy queue that
 * records every event published, timings in milliseconds, and clean-up of everything afterwards.
 * Several replicas can share one database and bus.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createDomainEvent, type DomainEvent } from '@defib/contracts';
import {
  apiClient,
  captureLogs,
  cleanUpServiceBus,
  createIsolatedBus,
  createIsolatedDatabase,
  startEventSpy,
  testServiceConfig,
  waitFor,
  type ApiClient,
  type EventSpy,
  type IsolatedBus,
  type IsolatedDatabase,
} from '../../../test/support/index.ts';
import type { ServiceConfig } from '@defib/platform';
import type { NotifierConfig } from '../src/config.ts';
import type { HostResolver } from '../src/network-policy.ts';
import { createNotifierService, type NotifierService, type NotifierServiceOptions } from '../src/notifier-service.ts';

export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const READ_TOKEN = 'read-token-0123456789abcdef';

/** Host names tests can point anywhere: `hosts.set('hooks.test', ['127.0.0.1'])`. */
export type ScriptedDns = Map<string, string[]>;

export interface NotifierHarness extends ApiClient, Omit<EventSpy, 'close'> {
  url: string;
  service: NotifierService;
  config: NotifierConfig;
  /** Every log line every replica wrote. */
  logs: string[];
  dns: ScriptedDns;
  /** Starts another notifier on the same database and bus. */
  replica(overrides?: Partial<NotifierConfig>, options?: NotifierServiceOptions): Promise<{ service: NotifierService; url: string }>;
  /** Stops the first notifier and starts a new one on the same database and bus. */
  restart(overrides?: Partial<NotifierConfig>, options?: NotifierServiceOptions): Promise<void>;
  close(): Promise<void>;
}

/** The notifier's own settings for tests: fast retries, loopback webhooks allowed, no email, a fresh sealing key. */
export function testNotifierSettings(): Omit<NotifierConfig, keyof ServiceConfig> {
  return {
    secretKey: randomBytes(32).toString('base64'),
    retry: { attempts: 4, initialDelayMs: 50, multiplier: 2, maxDelayMs: 2_000, jitter: 0 },
    attemptTimeoutMs: 500,
    leaseMs: 3_000,
    concurrency: 8,
    pollIntervalMs: 250,
    allowedNetworks: ['127.0.0.0/8'],
    secretOverlapMs: 60_000,
    autoDisable: { afterMs: 3_600_000, minFailures: 1_000 },
    defaultRateLimit: { burst: 10_000, perMinute: 600_000, groupWindowMs: 200 },
    groupMaxEvents: 100,
    retentionMs: 30 * 86_400_000,
    email: { smtpUrl: undefined, from: 'Defib <defib@notifier.test>', timeoutMs: 2_000 },
  };
}

export async function startNotifier(overrides: Partial<NotifierConfig> = {}, options: NotifierServiceOptions = {}): Promise<NotifierHarness> {
  const database: IsolatedDatabase = await createIsolatedDatabase();
  const isolatedBus: IsolatedBus = createIsolatedBus();
  const logs: string[] = [];
  const logger = captureLogs('notifier', logs);
  const dns: ScriptedDns = new Map();
  const resolve: HostResolver = (hostname) => {
    const addresses = dns.get(hostname);
    return addresses === undefined ? Promise.reject(Object.assign(new Error(`no such host ${hostname}`), { code: 'ENOTFOUND' })) : Promise.resolve(addresses);
  };
  const config: NotifierConfig = {
    ...testServiceConfig(database, isolatedBus, {
      databasePoolSize: 20,
      auth: { adminToken: ADMIN_TOKEN, readTokens: [READ_TOKEN], openReads: false },
      bodyLimitBytes: 16 * 1024,
      shutdownGraceMs: 2_000,
    }),
    ...testNotifierSettings(),
    ...overrides,
  };
  const spy = await startEventSpy(isolatedBus);

  const build = (configOverrides: Partial<NotifierConfig>, serviceOptions: NotifierServiceOptions) =>
    createNotifierService({ ...config, ...configOverrides }, { logger, resolve, ...options, ...serviceOptions });
  let service = build({}, {});
  let url = (await service.start()).url;
  const replicas: NotifierService[] = [];

  const client = apiClient(() => url, ADMIN_TOKEN);
  return {
    get url() {
      return url;
    },
    get service() {
      return service;
    },
    config,
    logs,
    dns,
    events: spy.events,
    publish: spy.publish,
    eventMatching: spy.eventMatching,
    request: client.request,
    json: client.json,
    async replica(configOverrides = {}, serviceOptions = {}) {
      const replica = build(configOverrides, serviceOptions);
      replicas.push(replica);
      const started = await replica.start();
      return { service: replica, url: started.url };
    },
    async restart(configOverrides = {}, serviceOptions = {}) {
      await service.stop();
      service = build(configOverrides, serviceOptions);
      url = (await service.start()).url;
    },
    async close() {
      for (const replica of replicas) await replica.stop();
      await service.stop();
      await spy.close();
      await cleanUpServiceBus(isolatedBus, ['notifier']);
      await database.drop();
    },
  };
}

/** A consistent little world to make events about. */
export const world = {
  wordpress: { deployableId: '6f1c2a52-8f43-4a3e-9a55-0b1d2c3e4f50', deployable: 'wordpress' },
  shop: { deployableId: '7a2d3b63-9054-4b4f-8b66-1c2e3d4f5061', deployable: 'shop' },
  db: { assemblyId: '8b3e4c74-a165-4c50-9c77-2d3f4e506172', assembly: 'db' },
};

/** `assembly.failed` about `db` of a deployable. */
export function assemblyFailed(deployable: { deployableId: string; deployable: string } = world.wordpress, instanceId = 'i-0001'): DomainEvent {
  return createDomainEvent('assembly.failed', {
    subject: { ...deployable, ...world.db },
    data: { instanceId, cloudStatus: 'ERROR' },
    correlationId: randomUUID(),
    reason: 'the cloud reports ERROR',
  });
}

/** `assembly.address-changed` about `db` of wordpress. */
export function addressChanged(): DomainEvent {
  return createDomainEvent('assembly.address-changed', {
    subject: { ...world.wordpress, ...world.db },
    data: {
      instanceId: 'i-0001',
      previous: [{ address: '10.0.0.5', type: 'fixed', version: 4 }],
      current: [{ address: '10.0.0.9', type: 'fixed', version: 4 }],
    },
    correlationId: randomUUID(),
  });
}

/** `recovery.started` for an incident on wordpress. */
export function recoveryStarted(): DomainEvent {
  return createDomainEvent('recovery.started', {
    subject: { ...world.wordpress, ...world.db },
    data: { incidentId: randomUUID(), step: 'reboot', attempt: 1 },
    correlationId: randomUUID(),
  });
}

/** Typed JSON views the tests read. */
export interface SubscriptionBody {
  id: string;
  kind: string;
  url?: string;
  secret?: string;
  enabled: boolean;
  disabledReason: string | null;
  previousSecretExpiresAt?: string | null;
  [key: string]: unknown;
}

export interface DeliveryBody {
  id: string;
  subscriptionId: string;
  status: 'pending' | 'delivered' | 'failed';
  mode: string;
  recipient?: string;
  events: { id: string; type: string }[];
  lastError: string | null;
  failureReason: string | null;
  nextAttemptAt: string | null;
  attempts: { number: number; statusCode: number | null; outcome: string; error: string | null; latencyMs: number; startedAt: string }[];
}

export interface ProblemBody {
  status: number;
  code: string;
  detail: string;
  issues?: { path: string; message: string }[];
}

/** Waits until the delivery log holds a delivery for `subscriptionId` satisfying `predicate`. */
export async function deliveryOf(harness: NotifierHarness, subscriptionId: string, predicate: (delivery: DeliveryBody) => boolean, what: string, timeoutMs = 10_000): Promise<DeliveryBody> {
  return waitFor(
    async () => {
      const page = await harness.json<{ items: DeliveryBody[] }>('GET', `/v1/deliveries?subscription=${subscriptionId}&limit=200`, 200);
      return page.items.find(predicate);
    },
    { what, timeoutMs, intervalMs: 50 },
  );
}
