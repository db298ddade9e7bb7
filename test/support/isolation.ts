/**
 * Per-test-file isolation: a database of its own and a bus prefix of its own, both removed
 * afterwards, so test files run in parallel and leave the shared servers as they found them.
 */
import { randomBytes } from 'node:crypto';
import { deleteBusObjects, type ServiceConfig } from '@defib/platform';
import pg from 'pg';
import { inject } from 'vitest';
import { TEST_DATABASE_PREFIX } from './abandoned.ts';

export interface IsolatedDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Creates an empty database for one test file. */
export async function createIsolatedDatabase(): Promise<IsolatedDatabase> {
  const { databaseUrl } = inject('infrastructure');
  const name = `${TEST_DATABASE_PREFIX}${uniqueSuffix()}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(databaseUrl, name),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface IsolatedBus {
  url: string;
  prefix: string;
  /** Deletes the exchanges and queues this prefix declared. */
  cleanUp(names: { exchanges: string[]; queues: string[] }): Promise<void>;
}

/** A bus prefix for one test file. */
export function createIsolatedBus(): IsolatedBus {
  const { amqpUrl } = inject('infrastructure');
  return {
    url: amqpUrl,
    prefix: `test-${uniqueSuffix()}`,
    cleanUp: (objects) => deleteBusObjects(amqpUrl, objects),
  };
}

/**
 * The shared settings of a service a test runs in-process: its own database and bus prefix, any
 * free port, debug logs, no tokens but those `overrides` give.
 */
export function testServiceConfig(database: { url: string }, bus: IsolatedBus, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    port: 0,
    host: '127.0.0.1',
    databaseUrl: database.url,
    databasePoolSize: 10,
    amqpUrl: bus.url,
    busPrefix: bus.prefix,
    logLevel: 'debug',
    auth: { readTokens: [], openReads: false },
    bodyLimitBytes: 64 * 1024,
    shutdownGraceMs: 1_000,
    ...overrides,
  };
}
