/**
 * What the intake and incidents API tests share: a migrated recovery database of their own, a
 * deployable whose `web/httpd` references `db`'s address, and events about it handled the way the
 * kernel's inbox handles them (inside one transaction, the outbox writing in it).
 */
import { randomUUID } from 'node:crypto';
import { createDomainEvent, validateManifest, type DomainEvent, type EventType, type Manifest } from '@defib/contracts';
import { wordpressManifest } from '@defib/contracts/testing';
import { createDatabase, createLogger, createOutbox, migrateToLatest, type Database } from '@defib/platform';
import { intakeHandlers, recoveryMigrations, type RecoveryTables } from '@defib/recovery';
import type { Transaction } from 'kysely';
import { createIsolatedDatabase, type IsolatedDatabase } from '../support/index.ts';

const logger = createLogger({ service: 'recovery-test', level: 'silent' });

export interface RecoveryDatabase {
  readonly database: Database<RecoveryTables>;
  readonly url: string;
  close(): Promise<void>;
}

/** A database of this test file's own, migrated with recovery's migrations. */
export async function migratedRecoveryDatabase(): Promise<RecoveryDatabase> {
  const isolated: IsolatedDatabase = await createIsolatedDatabase();
  const database = createDatabase<RecoveryTables>({ url: isolated.url, schema: 'recovery', logger });
  try {
    await migrateToLatest(database, recoveryMigrations, logger);
  } catch (error) {
    await database.close();
    await isolated.drop();
    throw error;
  }
  return {
    database,
    url: isolated.url,
    async close() {
      await database.close();
      await isolated.drop();
    },
  };
}

/**
 * Wordpress plus a `cache` nobody references; `web` also runs `php`, which references nothing, and
 * `httpd` references `db` twice (its address and its public address).
 */
export function testManifest(): Manifest {
  const input = wordpressManifest();
  const [db, web] = input.assemblies;
  const validation = validateManifest({
    ...input,
    assemblies: [
      db,
      {
        ...web,
        resources: [
          { name: 'httpd', params: { DB_HOST: { ref: 'db', field: 'address' }, DB_PUBLIC: { ref: 'db', field: 'publicAddress' } } },
          { name: 'php', params: { MODE: 'fpm' } },
        ],
      },
      { name: 'cache', image: 'fedora-40', flavor: 'm1.small', resources: [{ name: 'redis' }] },
    ],
  });
  if (!validation.ok) throw new Error(`test manifest is invalid: ${JSON.stringify(validation.issues)}`);
  return validation.manifest;
}

/** A deployable's registry ids, fresh for each test. */
export interface TestDeployable {
  deployableId: string;
  name: string;
  assemblyIds: Record<'db' | 'web' | 'cache', string>;
  resourceIds: Record<'db/mysqld' | 'web/httpd' | 'web/php' | 'cache/redis', string>;
}

export function testDeployable(name = `wp-${randomUUID().slice(0, 8)}`): TestDeployable {
  return {
    deployableId: randomUUID(),
    name,
    assemblyIds: { db: randomUUID(), web: randomUUID(), cache: randomUUID() },
    resourceIds: { 'db/mysqld': randomUUID(), 'web/httpd': randomUUID(), 'web/php': randomUUID(), 'cache/redis': randomUUID() },
  };
}

/** The subject of an event about the deployable. */
export function subjectOf(deployable: TestDeployable) {
  return { deployableId: deployable.deployableId, deployable: deployable.name };
}

export function assemblySubject(deployable: TestDeployable, assembly: keyof TestDeployable['assemblyIds']) {
  return { ...subjectOf(deployable), assemblyId: deployable.assemblyIds[assembly], assembly };
}

/** The subject of an event about a resource, by its `<assembly>/<resource>` key. */
export function resourceSubject(deployable: TestDeployable, key: keyof TestDeployable['resourceIds']) {
  const [assembly, resource] = key.split('/') as [keyof TestDeployable['assemblyIds'], string];
  return { ...assemblySubject(deployable, assembly), resourceId: deployable.resourceIds[key], resource };
}

type EventInit<T extends EventType> = Omit<Parameters<typeof createDomainEvent<T>>[1], 'correlationId'>;

export function domainEvent<T extends EventType>(type: T, init: EventInit<T>): DomainEvent<T> {
  return createDomainEvent(type, { correlationId: randomUUID(), ...init });
}

export function startRequested(deployable: TestDeployable, version = 1, manifest: Manifest = testManifest()): DomainEvent<'deployable.start-requested'> {
  return domainEvent('deployable.start-requested', {
    subject: subjectOf(deployable),
    data: { version, cloud: 'sim-openstack', manifest: { ...manifest, name: deployable.name }, assemblyIds: deployable.assemblyIds, resourceIds: deployable.resourceIds },
  });
}

/** Handles events one after the other, each in its own transaction, as the inbox does. */
export function intake(database: Database<RecoveryTables>) {
  const handlers = intakeHandlers({ outbox: createOutbox<RecoveryTables>('recovery') });
  const handleIn = (trx: Transaction<RecoveryTables>, event: DomainEvent) => {
    const handler = handlers[event.type] as ((event: DomainEvent, trx: Transaction<RecoveryTables>) => Promise<void>) | undefined;
    if (handler === undefined) throw new Error(`the intake has no handler for ${event.type}`);
    return handler(event, trx);
  };
  return {
    handlers,
    handle: async (...events: DomainEvent[]): Promise<void> => {
      for (const event of events) await database.db.transaction().execute((trx) => handleIn(trx, event));
    },
  };
}
