import { randomUUID } from 'node:crypto';
import { createDomainEvent, type DomainEvent } from '@defib/contracts';
import type { Kysely } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedBus, createIsolatedDatabase, testServiceConfig, waitFor, type IsolatedBus, type IsolatedDatabase } from '../../../test/support/index.ts';
import type { BackgroundWorker } from '../src/background-worker.ts';
import { busTopology } from '../src/bus.ts';
import type { ServiceConfig } from '../src/config.ts';
import type { Handled } from '../src/event-consumer.ts';
import { createLogger } from '../src/logger.ts';
import { platformMigrations, type PlatformTables } from '../src/outbox.ts';
import { createServiceKernel, type ServiceKernel } from '../src/service.ts';

const logger = createLogger({ service: 'kernel-test', level: 'silent' });
const NAME = 'kernel-spec';

interface SpecTables extends PlatformTables {
  effects: { event_id: string };
}

const migrations = {
  ...platformMigrations,
  '2026-12-01T0000-effects': {
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('effects').addColumn('event_id', 'uuid').execute();
    },
  },
};

describe('service kernel', () => {
  let isolatedDatabase: IsolatedDatabase;
  let isolatedBus: IsolatedBus;
  let config: ServiceConfig;
  const kernels: ServiceKernel<SpecTables>[] = [];

  function newKernel(): ServiceKernel<SpecTables> {
    const kernel = createServiceKernel<SpecTables>({ name: NAME, version: '0.0.0', config, migrations, logger });
    kernels.push(kernel);
    return kernel;
  }

  const parts = { routes: [], openapi: { title: 'kernel spec' } };
  const subject = { deployableId: randomUUID(), deployable: 'shop' };

  beforeAll(async () => {
    isolatedDatabase = await createIsolatedDatabase();
    isolatedBus = createIsolatedBus();
    config = testServiceConfig(isolatedDatabase, isolatedBus, { databasePoolSize: 4, logLevel: 'silent', auth: { readTokens: [], openReads: true }, bodyLimitBytes: 1024 });
  });

  afterEach(async () => {
    for (const kernel of kernels.splice(0)) await kernel.stop();
  });

  afterAll(async () => {
    await isolatedBus?.cleanUp(busTopology(isolatedBus.prefix, [NAME]));
    await isolatedDatabase?.drop();
  });

  describe('workers', () => {
    /** A worker that needs the migrated schema to start and an open pool to stop. */
    function probe(kernel: ServiceKernel<SpecTables>, name: string, journal: string[]): BackgroundWorker {
      return {
        name,
        async start() {
          await kernel.database.db.selectFrom('effects').select('event_id').execute();
          journal.push(`start ${name}`);
        },
        async stop() {
          await kernel.database.db.selectFrom('effects').select('event_id').execute();
          journal.push(`stop ${name}`);
        },
      };
    }

    it('starts workers in order after migrations and stops them in reverse while the pool is still open', async () => {
      const kernel = newKernel();
      const journal: string[] = [];
      await kernel.start({ ...parts, workers: [probe(kernel, 'first', journal), probe(kernel, 'second', journal)] });
      expect(journal).toEqual(['start first', 'start second']);
      await kernel.stop();
      expect(journal).toEqual(['start first', 'start second', 'stop second', 'stop first']);
    });

    it('fails start-up when a worker cannot start, and stops only the workers that did', async () => {
      const kernel = newKernel();
      const journal: string[] = [];
      const broken: BackgroundWorker = { name: 'broken', start: () => Promise.reject(new Error('cannot start')), stop: () => void journal.push('stop broken') };
      await expect(kernel.start({ ...parts, workers: [probe(kernel, 'first', journal), broken, probe(kernel, 'never', journal)] })).rejects.toThrow('cannot start');
      await kernel.stop();
      expect(journal).toEqual(['start first', 'stop first']);
    });
  });

  describe('readiness', () => {
    it('answers /readyz 200 with the extra checks, and 503 naming one that fails', async () => {
      const kernel = newKernel();
      let lagging = false;
      const { url } = await kernel.start({
        ...parts,
        readiness: [{ name: 'detector-lag', check: () => (lagging ? Promise.reject(new Error('8 s behind')) : Promise.resolve()) }],
      });
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ checks: { database: { status: 'ok' }, broker: { status: 'ok' }, 'detector-lag': { status: 'ok' } } });

      lagging = true;
      const lag = await fetch(`${url}/readyz`);
      expect(lag.status).toBe(503);
      expect(await lag.json()).toMatchObject({ detail: 'not ready: detector-lag', checks: { 'detector-lag': { status: 'failed' } } });
    });
  });

  describe('consume', () => {
    it('runs each handler in the inbox transaction: a redelivered event has no second effect', async () => {
      const kernel = newKernel();
      const outcomes: { id: string; handled: Handled<string> }[] = [];
      kernel.consume(
        {
          'deployable.stop-requested': async (event, trx) => {
            await trx.insertInto('effects').values({ event_id: event.id }).execute();
            return `stopped ${event.subject.deployable}`;
          },
        },
        { onHandled: (event: DomainEvent, handled) => outcomes.push({ id: event.id, handled }) },
      );
      await kernel.start(parts);
      const event = createDomainEvent('deployable.stop-requested', { subject, data: { version: 1 }, correlationId: randomUUID() });
      await kernel.bus.publish({ id: event.id, routingKey: event.type, body: event });
      await kernel.bus.publish({ id: event.id, routingKey: event.type, body: event });

      await waitFor(() => (outcomes.length === 2 ? true : undefined), { what: 'both deliveries handled' });
      expect(outcomes).toEqual([
        { id: event.id, handled: { duplicate: false, result: 'stopped shop' } },
        { id: event.id, handled: { duplicate: true } },
      ]);
      const effects = await kernel.database.db.selectFrom('effects').selectAll().where('event_id', '=', event.id).execute();
      expect(effects).toHaveLength(1);
    });

    it('rolls the inbox back with a failing handler, so the redelivery is handled', async () => {
      const kernel = newKernel();
      let failures = 1;
      const handled: string[] = [];
      kernel.consume(
        {
          'deployable.stop-requested': async (event, trx) => {
            await trx.insertInto('effects').values({ event_id: event.id }).execute();
            if (failures-- > 0) throw new Error('transient failure');
          },
        },
        { onHandled: (event) => handled.push(event.id) },
      );
      await kernel.start(parts);
      const event = createDomainEvent('deployable.stop-requested', { subject, data: { version: 2 }, correlationId: randomUUID() });
      await kernel.bus.publish({ id: event.id, routingKey: event.type, body: event });

      await waitFor(() => (handled.includes(event.id) ? true : undefined), { what: 'the retried event' });
      const effects = await kernel.database.db.selectFrom('effects').selectAll().where('event_id', '=', event.id).execute();
      expect(effects).toHaveLength(1);
    });

    it('refuses to start with a handler for an event the catalogue does not define', async () => {
      const kernel = newKernel();
      kernel.consume({ 'deployable.exploded': () => Promise.resolve() } as never);
      await expect(kernel.start(parts)).rejects.toThrow('deployable.exploded');
    });

    it('takes every handler in one consume()', () => {
      const kernel = newKernel();
      kernel.consume({ 'deployable.stop-requested': () => Promise.resolve() });
      expect(() => kernel.consume({ 'deployable.deleted': () => Promise.resolve() })).toThrow('one consume()');
    });
  });

  describe('outbox', () => {
    it('enqueues in the caller transaction without being told the schema', async () => {
      const kernel = newKernel();
      await kernel.start(parts);
      const event = createDomainEvent('deployable.deleted', { subject, data: { version: 1 }, correlationId: randomUUID() });
      await kernel.database.db.transaction().execute((trx) => kernel.outbox.enqueue(trx, [event]));
      const row = await waitFor(async () => {
        const stored = await kernel.database.db.selectFrom('outbox').selectAll().where('id', '=', event.id).executeTakeFirst();
        return stored?.published_at === null ? undefined : stored;
      }, { what: 'the relay to publish the event' });
      expect(row.type).toBe('deployable.deleted');
    });
  });
});
