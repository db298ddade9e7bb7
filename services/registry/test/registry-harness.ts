/**
 * Runs a real registry for integration tests: its own database and bus prefix, a spy queue that
 * records every event published, and clean-up of everything afterwards.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { DomainEvent } from '@defib/contracts';
import { Bus, busNames, createLogger, type Logger } from '@defib/platform';
import { createIsolatedBus, createIsolatedDatabase, waitFor, type IsolatedBus, type IsolatedDatabase } from '../../../test/support/index.ts';
import { createRegistryService, type RegistryService, type RegistryServiceOptions } from '../src/registry-service.ts';
import type { RegistryConfig } from '../src/config.ts';

export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const READ_TOKEN = 'read-token-0123456789abcdef';

export interface RegistryHarness {
  url: string;
  service: RegistryService;
  config: RegistryConfig;
  /** Every event seen on the bus, in arrival order (duplicates included). */
  events: DomainEvent[];
  /** Every log line the registry wrote. */
  logs: string[];
  request(method: string, path: string, options?: { body?: unknown; raw?: string; contentType?: string; token?: string | null; headers?: Record<string, string> }): Promise<Response>;
  /** Publishes an event onto the bus as another service would. */
  publish(event: DomainEvent): Promise<void>;
  /** Waits for the first event matching `predicate`. */
  eventMatching<T extends DomainEvent>(predicate: (event: DomainEvent) => event is T, what: string): Promise<T>;
  restart(options?: RegistryServiceOptions): Promise<void>;
  close(): Promise<void>;
}

function captureLogs(lines: string[]): Logger {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
      done();
    },
  });
  return createLogger({ service: 'registry', level: 'debug', destination });
}

export async function startRegistry(options: RegistryServiceOptions = {}): Promise<RegistryHarness> {
  const database: IsolatedDatabase = await createIsolatedDatabase();
  const isolatedBus: IsolatedBus = createIsolatedBus();
  const logs: string[] = [];
  const logger = captureLogs(logs);
  const config: RegistryConfig = {
    port: 0,
    host: '127.0.0.1',
    databaseUrl: database.url,
    amqpUrl: isolatedBus.url,
    busPrefix: isolatedBus.prefix,
    logLevel: 'debug',
    auth: { adminToken: ADMIN_TOKEN, readTokens: [READ_TOKEN], openReads: false },
    bodyLimitBytes: 64 * 1024,
    shutdownGraceMs: 2_000,
    secretKey: randomBytes(32).toString('base64'),
  };
  const events: DomainEvent[] = [];
  const spy = new Bus({ url: isolatedBus.url, prefix: isolatedBus.prefix, connectionName: 'registry-spy', logger: createLogger({ service: 'spy', level: 'silent' }) });
  await spy.start();
  await spy.consume({
    consumer: 'spy',
    bindings: ['#'],
    handle(message) {
      events.push(JSON.parse(message.content.toString('utf8')) as DomainEvent);
      return Promise.resolve('ack');
    },
  });

  let service = createRegistryService(config, { logger, ...options });
  let url = (await service.start()).url;

  const harness: RegistryHarness = {
    get url() {
      return url;
    },
    get service() {
      return service;
    },
    config,
    events,
    logs,
    async request(method, path, requestOptions = {}) {
      const headers: Record<string, string> = { ...requestOptions.headers };
      const token = requestOptions.token === undefined ? ADMIN_TOKEN : requestOptions.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (requestOptions.raw !== undefined) {
        body = requestOptions.raw;
        headers['content-type'] = requestOptions.contentType ?? 'application/json';
      } else if (requestOptions.body !== undefined) {
        body = JSON.stringify(requestOptions.body);
        headers['content-type'] = requestOptions.contentType ?? 'application/json';
      }
      return fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    },
    async publish(event) {
      await spy.publish({ id: event.id, routingKey: event.type, body: event, type: event.type, correlationId: event.correlationId });
    },
    eventMatching(predicate, what) {
      return waitFor(() => events.find(predicate) as never, { what, timeoutMs: 10_000 });
    },
    async restart(restartOptions = {}) {
      await service.stop();
      service = createRegistryService(config, { logger, ...restartOptions });
      url = (await service.start()).url;
    },
    async close() {
      await service.stop();
      await spy.close();
      const names = busNames(isolatedBus.prefix);
      await isolatedBus.cleanUp({
        exchanges: [names.eventsExchange, names.unroutedExchange, names.deadLetterExchange],
        queues: ['registry', 'spy'].flatMap((consumer) => [names.consumerQueue(consumer), names.deadLetterQueue(consumer)]).concat(names.unroutedQueue),
      });
      await database.drop();
    },
  };
  return harness;
}

export { wordpressManifest } from '@defib/contracts/testing';

export const openstackCloud = {
  provider: 'openstack',
  authUrl: 'http://127.0.0.1:7200/identity/v3',
  region: 'RegionOne',
  credentials: { username: 'admin', password: 'very-secret-password', project: 'admin', domain: 'Default' },
};

export const ec2Cloud = {
  provider: 'ec2',
  endpoint: 'http://127.0.0.1:7200/ec2/',
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIAEXAMPLEKEY12345', secretAccessKey: 'ec2-secret-access-key-value' },
};
