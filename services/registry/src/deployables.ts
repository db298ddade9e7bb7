/**
 * Deployables: applying manifests (idempotently, with a version that increases on change),
 * recording the desired state, and announcing every change through the outbox.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createDomainEvent, manifestDocument, resourceIdKey, validateManifest, type DomainEvent, type Manifest, type ManifestInput } from '@defib/contracts';
import { AppError, isUniqueViolation, type Outbox } from '@defib/platform';
import type { Kysely } from 'kysely';
import { cloudRepository } from './cloud.repository.ts';
import { deployableRepository, type DeployableRecord } from './deployable.repository.ts';
import { remember } from './status-projection.ts';
import { statusRepository } from './status.repository.ts';
import type { RegistryTables } from './tables.ts';

/** A deployable as the API shows it. */
export interface DeployableView {
  id: string;
  name: string;
  cloud: string;
  version: number;
  desiredState: 'running' | 'stopped';
  /** The manifest as the user wrote it. */
  manifest: unknown;
  /** The manifest as Defib acts on it: every default filled in, in the manifest's own words. */
  effectiveManifest: ManifestInput;
  assemblies: { id: string; name: string; resources: { id: string; name: string }[] }[];
  createdAt: string;
  updatedAt: string;
}

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

/** Stable JSON: keys sorted, so equal manifests hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function manifestDigest(manifest: Manifest): string {
  return createHash('sha256').update(canonicalJson(manifest)).digest('hex');
}

/** A stored manifest with its defaults; it was valid when stored, so it still is. */
function effectiveManifest(written: unknown): ManifestInput {
  const validation = validateManifest(written);
  if (!validation.ok) throw new Error(`a stored manifest no longer validates: ${validation.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`);
  return manifestDocument(validation.manifest);
}

function toView(record: DeployableRecord): DeployableView {
  return {
    id: record.id,
    name: record.name,
    cloud: record.cloud,
    version: record.version,
    desiredState: record.desired_state,
    manifest: record.manifest,
    effectiveManifest: effectiveManifest(record.manifest),
    assemblies: record.assemblies
      .map((assembly) => ({
        id: assembly.id,
        name: assembly.name,
        resources: assembly.resources.map((resource) => ({ id: resource.id, name: resource.name })).sort((a, b) => a.name.localeCompare(b.name)),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    createdAt: record.created_at.toISOString(),
    updatedAt: record.updated_at.toISOString(),
  };
}

function subjectOf(record: { id: string; name: string }) {
  return { deployableId: record.id, deployable: record.name };
}

function structureOf(manifest: Manifest) {
  return { assemblies: manifest.assemblies.map((assembly) => ({ name: assembly.name, resources: assembly.resources.map((resource) => resource.name) })) };
}

function appliedEvent(record: DeployableRecord, changed: boolean, correlationId: string): DomainEvent<'deployable.applied'> {
  const view = toView(record);
  return createDomainEvent('deployable.applied', {
    subject: subjectOf(record),
    data: { version: record.version, cloud: record.cloud, assemblies: view.assemblies, changed },
    correlationId,
  });
}

function startRequestedEvent(record: DeployableRecord, manifest: Manifest, correlationId: string): DomainEvent<'deployable.start-requested'> {
  return createDomainEvent('deployable.start-requested', {
    subject: subjectOf(record),
    data: {
      version: record.version,
      cloud: record.cloud,
      manifest,
      assemblyIds: Object.fromEntries(record.assemblies.map((assembly) => [assembly.name, assembly.id])),
      resourceIds: Object.fromEntries(record.assemblies.flatMap((assembly) => assembly.resources.map((resource) => [resourceIdKey(assembly.name, resource.name), resource.id]))),
    },
    correlationId,
  });
}

export interface DeployableCatalogue {
  apply(name: string, manifest: Manifest, written: unknown, correlationId: string): Promise<{ deployable: DeployableView; outcome: ApplyOutcome }>;
  get(name: string): Promise<DeployableView>;
  list(query: { cloud?: string | undefined; after?: string | undefined; limit: number }): Promise<DeployableView[]>;
  start(name: string, correlationId: string): Promise<{ deployable: DeployableView; changed: boolean }>;
  stop(name: string, correlationId: string): Promise<{ deployable: DeployableView; changed: boolean }>;
  remove(name: string, options: { force: boolean }, correlationId: string): Promise<void>;
}

export function createDeployableCatalogue(db: Kysely<RegistryTables>, outbox: Outbox<RegistryTables>, parse: (stored: unknown) => Manifest): DeployableCatalogue {
  async function load(trx: Kysely<RegistryTables>, name: string, forUpdate: boolean): Promise<DeployableRecord> {
    const row = await deployableRepository.findByName(trx, name, { forUpdate });
    if (row === undefined) throw AppError.notFound('deployable', name);
    return deployableRepository.withStructure(trx, row);
  }

  async function applyOnce(name: string, manifest: Manifest, written: unknown, correlationId: string) {
    return db.transaction().execute(async (trx) => {
      if ((await cloudRepository.find(trx, manifest.cloud)) === undefined) {
        throw AppError.validation([{ path: 'cloud', message: `no cloud named ${manifest.cloud} is registered` }]);
      }
      const digest = manifestDigest(manifest);
      const existing = await deployableRepository.findByName(trx, name, { forUpdate: true });
      let outcome: ApplyOutcome;
      let id: string;
      if (existing === undefined) {
        id = randomUUID();
        await deployableRepository.insert(trx, { id, name, cloud: manifest.cloud, version: 1, digest, manifest: JSON.stringify(written), desired_state: 'stopped' });
        outcome = 'created';
      } else if (existing.digest === digest) {
        return { deployable: toView(await deployableRepository.withStructure(trx, existing)), outcome: 'unchanged' as const };
      } else {
        id = existing.id;
        await deployableRepository.update(trx, id, { cloud: manifest.cloud, version: existing.version + 1, digest, manifest: JSON.stringify(written), updated_at: new Date() });
        outcome = 'updated';
      }
      await deployableRepository.syncStructure(trx, id, structureOf(manifest), randomUUID);
      const record = await load(trx, name, false);
      const events: Extract<DomainEvent, { subject: { deployableId: string } }>[] = [appliedEvent(record, true, correlationId)];
      // A running deployable's new version is handed to recovery to roll out.
      if (record.desired_state === 'running') events.push(startRequestedEvent(record, manifest, correlationId));
      await outbox.enqueue(trx, events);
      for (const event of events) await remember(trx, event);
      return { deployable: toView(record), outcome };
    });
  }

  async function setDesiredState(name: string, desired: 'running' | 'stopped', correlationId: string) {
    return db.transaction().execute(async (trx) => {
      const record = await load(trx, name, true);
      if (record.desired_state === desired) return { deployable: toView(record), changed: false };
      const updated = { ...record, ...(await deployableRepository.update(trx, record.id, { desired_state: desired, updated_at: new Date() })) };
      const event =
        desired === 'running'
          ? startRequestedEvent(updated, parse(updated.manifest), correlationId)
          : createDomainEvent('deployable.stop-requested', { subject: subjectOf(updated), data: { version: updated.version }, correlationId });
      await outbox.enqueue(trx, [event]);
      await remember(trx, event);
      return { deployable: toView(updated), changed: true };
    });
  }

  return {
    async apply(name, manifest, written, correlationId) {
      try {
        return await applyOnce(name, manifest, written, correlationId);
      } catch (error) {
        // Two first applies of one name raced; the loser sees the winner's row on a second try.
        if (isUniqueViolation(error)) return applyOnce(name, manifest, written, correlationId);
        throw error;
      }
    },

    async get(name) {
      return toView(await load(db, name, false));
    },

    async list(query) {
      const rows = await deployableRepository.list(db, query);
      return Promise.all(rows.map(async (row) => toView(await deployableRepository.withStructure(db, row))));
    },

    start: (name, correlationId) => setDesiredState(name, 'running', correlationId),
    stop: (name, correlationId) => setDesiredState(name, 'stopped', correlationId),

    async remove(name, { force }, correlationId) {
      await db.transaction().execute(async (trx) => {
        const record = await load(trx, name, true);
        if (record.desired_state === 'running' && !force) {
          throw AppError.conflict(`deployable ${name} is running; stop it first or delete with ?force=true`);
        }
        const events: DomainEvent[] = [];
        if (record.desired_state === 'running') {
          events.push(createDomainEvent('deployable.stop-requested', { subject: subjectOf(record), data: { version: record.version }, correlationId, reason: 'deleted while running (forced)' }));
        }
        events.push(createDomainEvent('deployable.deleted', { subject: subjectOf(record), data: { version: record.version }, correlationId }));
        await statusRepository.forget(trx, record.id, record.assemblies.map((assembly) => assembly.id), record.assemblies.flatMap((assembly) => assembly.resources.map((resource) => resource.id)));
        await deployableRepository.remove(trx, record.id);
        await outbox.enqueue(trx, events);
      });
    },
  };
}
