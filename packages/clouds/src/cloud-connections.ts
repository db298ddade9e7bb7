/**
 * Cloud connections for the services that talk to clouds (monitor, recovery). Credentials live
 * sealed in the registry; a service fetches a cloud's connection once with its service token and
 * keeps it sealed with its own key in its own table, so it goes on working from that copy while
 * the registry is down. The copy follows the registry through `cloud.registered` and
 * `cloud.removed` ({@link cloudConnectionHandlers}); those events never carry credentials, they
 * only say when to fetch again.
 */
import type { CloudRegistration, DomainEvent } from '@defib/contracts';
import { SecretBoxError, type Logger, type SecretBox } from '@defib/platform';
import type { Kysely } from 'kysely';
import { cloudConnectionRepository, type CloudConnectionRow, type CloudConnectionTables } from './cloud-connection.repository.ts';
import { CloudConnectionUnavailable, type CloudConnectionSource } from './registry-connection-source.ts';

/** The registry does not know the cloud (any more). */
export class CloudNotRegistered extends Error {
  readonly cloud: string;

  constructor(cloud: string) {
    super(`cloud ${cloud} is not registered`);
    this.name = 'CloudNotRegistered';
    this.cloud = cloud;
  }
}

export interface CloudConnectionsOptions<DB> {
  /** The calling service's database; its migrations include `cloudConnectionMigrations`. */
  db: Kysely<DB>;
  source: CloudConnectionSource;
  /** The calling service's own key (`DEFIB_SECRET_KEY`). */
  secrets: SecretBox;
  logger: Logger;
  /** After a failed fetch, how long a stale copy serves before the registry is asked again. */
  retryAfterMs?: number;
  clock?: { now(): number };
}

/** A service's view of the clouds it talks to. */
export interface CloudConnections {
  /**
   * Cloud `name`'s registration, credentials included: the sealed copy while it is current,
   * otherwise fetched from the registry (and sealed); while the registry cannot be reached, the
   * sealed copy however stale. Throws {@link CloudNotRegistered}, or
   * {@link CloudConnectionUnavailable} when there is no copy and the registry cannot be reached.
   * Never log what it returns.
   */
  get(name: string): Promise<CloudRegistration>;
  /** Fetches the connection again (`cloud.registered`): stored if newer, dropped if the cloud is gone, marked stale if the registry cannot be reached. */
  refresh(name: string): Promise<void>;
  /** Drops the copy (`cloud.removed`) unless the registry has it again (the cloud was registered anew since). */
  forget(name: string): Promise<void>;
}

function associatedData(name: string): string {
  return `cloud-connection:${name}`;
}

export function createCloudConnections<DB>(options: CloudConnectionsOptions<DB>): CloudConnections {
  const db = options.db as unknown as Kysely<CloudConnectionTables>;
  const { source, secrets } = options;
  const logger = options.logger.child({ component: 'cloud-connections' });
  const clock = options.clock ?? { now: () => Date.now() };
  const retryAfterMs = options.retryAfterMs ?? 5_000;
  /** Per cloud, when the registry may be asked again after it could not be reached. */
  const quietUntil = new Map<string, number>();

  const open = (row: CloudConnectionRow): CloudRegistration => JSON.parse(secrets.open(row.sealed_registration, associatedData(row.name))) as CloudRegistration;
  /** The copy opened, unless it was sealed with another key (a replica configured with another DEFIB_SECRET_KEY): then there is none. */
  const readable = (row: CloudConnectionRow | undefined): { row: CloudConnectionRow; registration: CloudRegistration } | undefined => {
    if (row === undefined) return undefined;
    try {
      return { row, registration: open(row) };
    } catch (error) {
      if (!(error instanceof SecretBoxError)) throw error;
      logger.warn({ cloud: row.name }, 'the sealed copy of the connection does not open with this key (is DEFIB_SECRET_KEY the same on every replica?); fetching it again');
      return undefined;
    }
  };

  /** Fetches and reconciles the copy; the registration, or undefined when the cloud is not registered. */
  const fetchAndKeep = async (name: string): Promise<CloudRegistration | undefined> => {
    let connection;
    try {
      connection = await source.fetch(name);
    } catch (error) {
      quietUntil.set(name, clock.now() + retryAfterMs);
      throw error;
    }
    quietUntil.delete(name);
    if (connection === undefined) {
      await cloudConnectionRepository.remove(db, name);
      return undefined;
    }
    const { registration } = connection;
    await cloudConnectionRepository.save(db, {
      name,
      provider: registration.provider,
      sealed_registration: secrets.seal(JSON.stringify(registration), associatedData(name)),
      registry_updated_at: new Date(connection.updatedAt),
    });
    return registration;
  };

  return {
    async get(name) {
      const copy = readable(await cloudConnectionRepository.find(db, name));
      if (copy !== undefined && (!copy.row.stale || (quietUntil.get(name) ?? 0) > clock.now())) return copy.registration;
      try {
        const registration = await fetchAndKeep(name);
        if (registration === undefined) throw new CloudNotRegistered(name);
        return registration;
      } catch (error) {
        if (!(error instanceof CloudConnectionUnavailable) || copy === undefined) throw error;
        logger.warn({ cloud: name, err: error }, 'the registry cannot be reached; using the sealed copy of the connection');
        return copy.registration;
      }
    },

    async refresh(name) {
      try {
        await fetchAndKeep(name);
      } catch (error) {
        if (!(error instanceof CloudConnectionUnavailable)) throw error;
        logger.warn({ cloud: name, err: error }, 'the connection changed but cannot be fetched yet; it is fetched again when next used');
        await cloudConnectionRepository.markStale(db, name);
      }
    },

    async forget(name) {
      try {
        if ((await fetchAndKeep(name)) !== undefined) return;
      } catch (error) {
        if (!(error instanceof CloudConnectionUnavailable)) throw error;
        // The event is word enough that the registration went: drop the copy, fetch again if used.
        await cloudConnectionRepository.remove(db, name);
      }
    },
  };
}

/** Handlers a service adds to its event consumer so its copies follow the registry. */
export interface CloudConnectionHandlers {
  'cloud.registered': (event: DomainEvent<'cloud.registered'>) => Promise<void>;
  'cloud.removed': (event: DomainEvent<'cloud.removed'>) => Promise<void>;
}

/**
 * Keeps `connections` in step with the registry. Each handler fetches the current state, so a
 * redelivered or reordered event does no harm (no inbox needed).
 */
export function cloudConnectionHandlers(connections: CloudConnections): CloudConnectionHandlers {
  return {
    'cloud.registered': (event) => connections.refresh(event.subject.cloud),
    'cloud.removed': (event) => connections.forget(event.subject.cloud),
  };
}
