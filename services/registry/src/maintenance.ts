/**
 * Maintenance: a deployable, or one of its assemblies, whose failures Defib still observes and
 * reports but does not recover. Entering, leaving and expiring each write the row and its event
 * (`deployable|assembly.maintenance-entered|left`) in one transaction through the outbox, so
 * recovery hears of every change exactly when it is stored.
 */
import { randomUUID } from 'node:crypto';
import { createDomainEvent, type DomainEvent } from '@defib/contracts';
import { AppError, type Outbox } from '@defib/platform';
import type { Kysely, Transaction } from 'kysely';
import { deployableRepository, type DeployableRecord } from './deployable.repository.ts';
import { maintenanceRepository, type MaintenanceTerms } from './maintenance.repository.ts';
import { remember, windowOf, type MaintenanceWindow } from './status-projection.ts';
import type { RegistryTables } from './tables.ts';

/** A deployable's maintenance and that of each assembly in maintenance, by assembly name. */
export interface MaintenanceState {
  deployable: string;
  maintenance: MaintenanceWindow | null;
  assemblies: Record<string, MaintenanceWindow>;
}

/** What a request to enter maintenance asks for: an end (`until`) or a length (`forMs`), not both; neither lasts until asked to end. */
export interface MaintenanceRequest {
  until?: string | undefined;
  forMs?: number | undefined;
  reason?: string | undefined;
}

/** What entering did: `entered` (was not in maintenance), `changed` (new until or reason) or `unchanged` (nothing emitted). */
export type MaintenanceOutcome = 'entered' | 'changed' | 'unchanged';

export interface MaintenanceDesk {
  /** The maintenance of deployable `name` (404 when there is no such deployable). */
  state(name: string): Promise<MaintenanceState>;
  /** Puts the deployable, or its assembly `assembly`, in maintenance; 400 naming the field for a past or conflicting end. */
  enter(target: MaintenanceTarget, request: MaintenanceRequest, correlationId: string): Promise<{ state: MaintenanceState; outcome: MaintenanceOutcome }>;
  /** Ends maintenance on request; 404 when the target is not in maintenance. */
  leave(target: MaintenanceTarget, correlationId: string): Promise<MaintenanceState>;
  /** Ends every maintenance whose `until` has passed, announcing each once; how many ended. */
  expire(): Promise<number>;
}

/** A deployable, or one of its assemblies, by name. */
export interface MaintenanceTarget {
  deployable: string;
  assembly?: string | undefined;
}

type MaintenanceEvent = DomainEvent<'deployable.maintenance-entered' | 'deployable.maintenance-left' | 'assembly.maintenance-entered' | 'assembly.maintenance-left'>;

type DeployableSubject = { deployableId: string; deployable: string };
type AssemblySubject = DeployableSubject & { assemblyId: string; assembly: string };
type Subject = DeployableSubject | AssemblySubject;

const isAssembly = (subject: Subject): subject is AssemblySubject => 'assemblyId' in subject;

function enteredEvent(subject: Subject, until: Date | null, reason: string | null, correlationId: string): MaintenanceEvent {
  const init = { data: until === null ? {} : { until: until.toISOString() }, correlationId, ...(reason === null ? {} : { reason }) };
  return isAssembly(subject) ? createDomainEvent('assembly.maintenance-entered', { ...init, subject }) : createDomainEvent('deployable.maintenance-entered', { ...init, subject });
}

function leftEvent(subject: Subject, ended: 'requested' | 'expired', correlationId: string): MaintenanceEvent {
  const init = { data: { ended }, correlationId };
  return isAssembly(subject) ? createDomainEvent('assembly.maintenance-left', { ...init, subject }) : createDomainEvent('deployable.maintenance-left', { ...init, subject });
}

/**
 * The maintenance desk over the registry's tables. Changes to one deployable's maintenance (its
 * own or its assemblies') are serialised by locking the deployable's row; `now` decides when an
 * `until` is past, both for a request and for the expiry sweep.
 */
export function createMaintenanceDesk(db: Kysely<RegistryTables>, outbox: Outbox<RegistryTables>, now: () => Date): MaintenanceDesk {
  async function announce(trx: Transaction<RegistryTables>, events: MaintenanceEvent[]): Promise<void> {
    if (events.length === 0) return;
    await outbox.enqueue(trx, events);
    for (const event of events) await remember(trx, event);
  }

  async function stateOf(trx: Kysely<RegistryTables>, record: DeployableRecord): Promise<MaintenanceState> {
    const own = await maintenanceRepository.deployable(trx, record.id);
    const assemblies = await maintenanceRepository.assemblies(trx, record.id);
    const names = new Map(record.assemblies.map((assembly) => [assembly.id, assembly.name]));
    return {
      deployable: record.name,
      maintenance: own === undefined ? null : windowOf(own),
      assemblies: Object.fromEntries(
        assemblies
          .map((row) => [names.get(row.assembly_id) ?? row.assembly_id, windowOf(row)] as const)
          .sort(([a], [b]) => a.localeCompare(b)),
      ),
    };
  }

  /** The deployable, locked so changes to its maintenance are applied one at a time, and the target's subject. */
  async function locate(trx: Kysely<RegistryTables>, target: MaintenanceTarget): Promise<{ record: DeployableRecord; subject: Subject }> {
    const row = await deployableRepository.findByName(trx, target.deployable, { forUpdate: true });
    if (row === undefined) throw AppError.notFound('deployable', target.deployable);
    const record = await deployableRepository.withStructure(trx, row);
    const subject: Subject = { deployableId: record.id, deployable: record.name };
    if (target.assembly === undefined) return { record, subject };
    const assembly = record.assemblies.find((candidate) => candidate.name === target.assembly);
    if (assembly === undefined) throw new AppError('not_found', `deployable ${record.name} has no assembly named ${target.assembly}`);
    return { record, subject: { ...subject, assemblyId: assembly.id, assembly: assembly.name } };
  }

  function endOf(request: MaintenanceRequest, at: Date): Date | null {
    if (request.until !== undefined && request.forMs !== undefined) throw AppError.validation([{ path: 'for', message: 'give either until or for, not both' }]);
    if (request.forMs !== undefined) return new Date(at.getTime() + request.forMs);
    if (request.until === undefined) return null;
    const until = new Date(request.until);
    if (until.getTime() <= at.getTime()) throw AppError.validation([{ path: 'until', message: `must be in the future (it is ${at.toISOString()} now)` }]);
    return until;
  }

  return {
    async state(name) {
      const row = await deployableRepository.findByName(db, name);
      if (row === undefined) throw AppError.notFound('deployable', name);
      return stateOf(db, await deployableRepository.withStructure(db, row));
    },

    async enter(target, request, correlationId) {
      const at = now();
      const until = endOf(request, at);
      const reason = request.reason ?? null;
      return db.transaction().execute(async (trx) => {
        const { record, subject } = await locate(trx, target);
        const existing = isAssembly(subject)
          ? (await maintenanceRepository.assemblies(trx, record.id)).find((row) => row.assembly_id === subject.assemblyId)
          : await maintenanceRepository.deployable(trx, record.id);
        if (existing !== undefined && existing.until?.getTime() === until?.getTime() && existing.reason === reason) {
          return { state: await stateOf(trx, record), outcome: 'unchanged' as const };
        }
        const terms: MaintenanceTerms = { since: existing?.since ?? at, until, reason };
        if (isAssembly(subject)) await maintenanceRepository.enterAssembly(trx, { deployableId: record.id, assemblyId: subject.assemblyId }, terms);
        else await maintenanceRepository.enterDeployable(trx, record.id, terms);
        await announce(trx, [enteredEvent(subject, until, reason, correlationId)]);
        return { state: await stateOf(trx, record), outcome: existing === undefined ? ('entered' as const) : ('changed' as const) };
      });
    },

    async leave(target, correlationId) {
      return db.transaction().execute(async (trx) => {
        const { record, subject } = await locate(trx, target);
        const left = isAssembly(subject) ? await maintenanceRepository.leaveAssembly(trx, subject.assemblyId) : await maintenanceRepository.leaveDeployable(trx, record.id);
        const what = isAssembly(subject) ? `assembly ${subject.assembly} of deployable ${record.name}` : `deployable ${record.name}`;
        if (!left) throw new AppError('not_found', `${what} is not in maintenance`);
        await announce(trx, [leftEvent(subject, 'requested', correlationId)]);
        return stateOf(trx, record);
      });
    },

    async expire() {
      const at = now();
      return db.transaction().execute(async (trx) => {
        // Deleted and returned in one statement each: a second replica's sweep waits on the rows and then finds them gone.
        const deployables = await maintenanceRepository.expireDeployables(trx, at);
        const assemblies = await maintenanceRepository.expireAssemblies(trx, at);
        const correlationId = randomUUID();
        await announce(trx, [
          ...deployables.map((row) => leftEvent({ deployableId: row.deployable_id, deployable: row.deployable }, 'expired', correlationId)),
          ...assemblies.map((row) => leftEvent({ deployableId: row.deployable_id, deployable: row.deployable, assemblyId: row.assembly_id, assembly: row.assembly }, 'expired', correlationId)),
        ]);
        return deployables.length + assemblies.length;
      });
    },
  };
}
