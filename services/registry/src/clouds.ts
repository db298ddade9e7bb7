/**
 * Cloud registrations: stored with their credentials sealed, announced without them, and never
 * removed while a deployable uses them.
 */
import { checkContract, cloudRegistrationSchema, createDomainEvent, toPublicCloud, type CloudConnection, type CloudRegistration, type PublicCloud } from '@defib/contracts';
import { AppError, type Outbox, type SecretBox } from '@defib/platform';
import type { Kysely } from 'kysely';
import { cloudRepository } from './cloud.repository.ts';
import type { CloudRow, RegistryTables } from './tables.ts';

function sealedFor(name: string): string {
  return `cloud:${name}`;
}

export function endpointOf(registration: CloudRegistration): string {
  return registration.provider === 'openstack' ? registration.authUrl : registration.endpoint;
}

export interface CloudCatalogue {
  register(name: string, registration: CloudRegistration, correlationId: string): Promise<{ cloud: PublicCloud; created: boolean }>;
  get(name: string): Promise<PublicCloud>;
  /** The full registration with credentials, or undefined when no cloud of that name is registered. */
  find(name: string): Promise<CloudRegistration | undefined>;
  list(): Promise<PublicCloud[]>;
  remove(name: string, correlationId: string): Promise<void>;
  /** The full registration with credentials, for the services that talk to the cloud. */
  registration(name: string): Promise<CloudRegistration>;
  /** The full registration with credentials and when it was last changed, as the connection route gives it. */
  connection(name: string): Promise<CloudConnection>;
}

export function createCloudCatalogue(db: Kysely<RegistryTables>, outbox: Outbox<RegistryTables>, secrets: SecretBox): CloudCatalogue {
  // Parsed like a new registration: a row no longer matching the schema is an error here, not a surprise in a driver.
  const open = (row: CloudRow): CloudRegistration => {
    const stored = checkContract(cloudRegistrationSchema, { ...row.settings, provider: row.provider, credentials: JSON.parse(secrets.open(row.sealed_credentials, sealedFor(row.name))) as unknown });
    if (!stored.ok) throw new Error(`stored registration of cloud ${row.name} no longer validates: ${stored.issues.map((issue) => `${issue.path} ${issue.message}`).join('; ')}`);
    return stored.value;
  };

  return {
    async register(name, registration, correlationId) {
      const { credentials, ...settings } = registration;
      return db.transaction().execute(async (trx) => {
        const { created } = await cloudRepository.upsert(trx, {
          name,
          provider: registration.provider,
          settings: JSON.stringify(settings),
          sealed_credentials: secrets.seal(JSON.stringify(credentials), sealedFor(name)),
        });
        const event = createDomainEvent('cloud.registered', {
          subject: { cloud: name },
          data: { provider: registration.provider, region: registration.region, endpoint: endpointOf(registration), created },
          correlationId,
        });
        await outbox.enqueue(trx, [event]);
        return { cloud: toPublicCloud(name, registration), created };
      });
    },

    async find(name) {
      const row = await cloudRepository.find(db, name);
      return row === undefined ? undefined : open(row);
    },
    async get(name) {
      const row = await cloudRepository.find(db, name);
      if (row === undefined) throw AppError.notFound('cloud', name);
      return toPublicCloud(name, open(row));
    },

    async list() {
      const rows = await cloudRepository.list(db);
      return rows.map((row) => toPublicCloud(row.name, open(row)));
    },

    async remove(name, correlationId) {
      await db.transaction().execute(async (trx) => {
        const row = await cloudRepository.findForUpdate(trx, name);
        if (row === undefined) throw AppError.notFound('cloud', name);
        const users = await cloudRepository.deployablesUsing(trx, name);
        if (users.length > 0) throw AppError.conflict(`cloud ${name} is used by deployables: ${users.join(', ')}`);
        await cloudRepository.remove(trx, name);
        const event = createDomainEvent('cloud.removed', { subject: { cloud: name }, data: { provider: row.provider }, correlationId });
        await outbox.enqueue(trx, [event]);
      });
    },

    async registration(name) {
      return (await this.connection(name)).registration;
    },

    async connection(name) {
      const row = await cloudRepository.find(db, name);
      if (row === undefined) throw AppError.notFound('cloud', name);
      return { name, registration: open(row), updatedAt: row.updated_at.toISOString() };
    },
  };
}
