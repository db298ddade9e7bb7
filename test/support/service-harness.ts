/**
 * The parts every service's integration harness shares: a logger whose lines tests can read, a
 * spy on the bus that records every event and can publish as another service would, an API
 * client with a bearer token, and the clean-up of what a service declared on the broker.
 */
import { Writable } from 'node:stream';
import type { DomainEvent } from '@defib/contracts';
import { Bus, busTopology, createLogger, type Logger } from '@defib/platform';
import type { IsolatedBus } from './isolation.ts';
import { waitFor } from './wait.ts';

/** A debug-level logger for `service` whose lines are appended to `lines`. */
export function captureLogs(service: string, lines: string[]): Logger {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
      done();
    },
  });
  return createLogger({ service, level: 'debug', destination });
}

export interface EventSpy {
  /** Every event seen on the bus, in arrival order (duplicates included). */
  events: DomainEvent[];
  /** Publishes an event onto the bus as another service would. */
  publish: (event: DomainEvent) => Promise<void>;
  /** Waits for the first event matching `predicate`. */
  eventMatching: <T extends DomainEvent>(predicate: (event: DomainEvent) => event is T, what: string) => Promise<T>;
  close: () => Promise<void>;
}

/** Binds a queue of its own (`<prefix>.spy`) to every event on the isolated bus. */
export async function startEventSpy(bus: IsolatedBus): Promise<EventSpy> {
  const events: DomainEvent[] = [];
  const spy = new Bus({ url: bus.url, prefix: bus.prefix, connectionName: 'test-spy', logger: createLogger({ service: 'spy', level: 'silent' }) });
  await spy.start();
  await spy.consume({
    consumer: 'spy',
    bindings: ['#'],
    handle(message) {
      events.push(JSON.parse(message.content.toString('utf8')) as DomainEvent);
      return Promise.resolve('ack');
    },
  });
  return {
    events,
    async publish(event) {
      await spy.publish({ id: event.id, routingKey: event.type, body: event, type: event.type, correlationId: event.correlationId });
    },
    eventMatching(predicate, what) {
      return waitFor(() => events.find(predicate) as never, { what, timeoutMs: 10_000 });
    },
    close: () => spy.close(),
  };
}

/** Deletes the exchanges and the queues of `consumers` (and the spy's) that a test run declared. */
export async function cleanUpServiceBus(bus: IsolatedBus, consumers: readonly string[]): Promise<void> {
  await bus.cleanUp(busTopology(bus.prefix, [...consumers, 'spy']));
}

export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is, with `contentType` (JSON by default). */
  raw?: string;
  contentType?: string;
  /** The bearer token; the client's default when absent, none when null. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface ApiClient {
  request: (method: string, path: string, options?: RequestOptions) => Promise<Response>;
  /** `request` and parse the JSON answer, failing unless the status is `expected`. */
  json: <T>(method: string, path: string, expected: number, options?: RequestOptions) => Promise<T>;
}

/** A client for the service at `baseUrl()` (read each call, so it follows restarts). */
export function apiClient(baseUrl: () => string, defaultToken: string): ApiClient {
  const client: ApiClient = {
    async request(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      const token = options.token === undefined ? defaultToken : options.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (options.raw !== undefined) body = options.raw;
      else if (options.body !== undefined) body = JSON.stringify(options.body);
      if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
      return fetch(`${baseUrl()}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    },
    async json<T>(method: string, path: string, expected: number, options: RequestOptions = {}) {
      const response = await client.request(method, path, options);
      const text = await response.text();
      if (response.status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${response.status}: ${text}`);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    },
  };
  return client;
}
