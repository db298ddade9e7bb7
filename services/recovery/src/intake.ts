/**
 * Recovery's intake: turns what the world says (start and stop requests, failures, recoveries,
 * address changes, maintenance) into rows, and wakes the runner. It never acts and never changes a
 * deployable's `state` or an assembly's `phase` — the runner alone does, from these rows.
 *
 * Each handler runs in the inbox transaction, so a redelivered event changes nothing twice, and
 * whatever it cannot place (an unknown deployable or assembly, an event about an old VM) it
 * ignores without throwing. A handler that changed something marks the deployable due now and
 * notifies {@link WORK_CHANNEL} in the same transaction: the runner hears of it once it commits.
 */
import { createDomainEvent, paramReferencesTo, resourceIdKey, type DomainEvent, type EventType, type Manifest } from '@defib/contracts';
import type { InboxHandlers, Outbox } from '@defib/platform';
import { sql, type Transaction } from 'kysely';
import { foldFailure, foldTarget, openIncident, openIncidents, type FailingThing } from './incident.repository.ts';
import type { AssemblyRow, DeployableRow, FailureObservation, IncidentRow, RecoveryTables } from './tables.ts';

/** The PostgreSQL channel the intake notifies (payload: the deployable's id) when a deployable has work. */
export const WORK_CHANNEL = 'recovery_work';

/** Every event the intake consumes. */
export const consumedEventTypes = [
  'deployable.start-requested',
  'deployable.stop-requested',
  'deployable.deleted',
  'assembly.failed',
  'assembly.unresponsive',
  'resource.failed',
  'assembly.running',
  'resource.running',
  'assembly.recovered',
  'assembly.address-changed',
  'deployable.maintenance-entered',
  'deployable.maintenance-left',
  'assembly.maintenance-entered',
  'assembly.maintenance-left',
] as const satisfies readonly EventType[];

type Trx = Transaction<RecoveryTables>;

/** Marks the deployable due now (never later than it already was) and tells the runner once the transaction commits. */
async function wake(trx: Trx, deployableId: string): Promise<void> {
  await trx.updateTable('deployables').set({ due_at: sql<Date>`least(due_at, clock_timestamp())` }).where('id', '=', deployableId).execute();
  await sql`select pg_notify(${WORK_CHANNEL}, ${deployableId})`.execute(trx);
}

/** The deployable, locked until the transaction ends: one intake at a time decides what a failure of it folds into. */
function lockedDeployable(trx: Trx, id: string): Promise<DeployableRow | undefined> {
  return trx.selectFrom('deployables').selectAll().where('id', '=', id).forNoKeyUpdate().executeTakeFirst();
}

function assemblyOf(trx: Trx, deployableId: string, assemblyId: string): Promise<AssemblyRow | undefined> {
  return trx.selectFrom('assemblies').selectAll().where('id', '=', assemblyId).where('deployable_id', '=', deployableId).executeTakeFirst();
}

/** An event is about the assembly's current VM when it names no VM, the assembly has none yet, or it names that one. */
function aboutCurrentVm(assembly: AssemblyRow, instanceId: string | undefined): boolean {
  return instanceId === undefined || assembly.instance_id === null || assembly.instance_id === instanceId;
}

/** Whether an open incident is about this assembly (or one of its resources, or its whole deployable). */
function concerns(incident: IncidentRow, assemblyId: string, resourceId?: string): boolean {
  if (incident.level === 'deployable') return true;
  if (incident.assembly_id !== assemblyId) return false;
  return resourceId === undefined || incident.resource_id === null || incident.resource_id === resourceId;
}

type FailureEvent = DomainEvent<'assembly.failed' | 'assembly.unresponsive' | 'resource.failed'>;

export function intakeHandlers(deps: { outbox: Outbox<RecoveryTables> }): InboxHandlers<RecoveryTables> {
  /** Opens an incident about `thing` or folds the failure into the open one it belongs to (see the folding rules in incident.repository.ts). */
  async function recordFailure(trx: Trx, event: FailureEvent, thing: FailingThing, failure: FailureObservation): Promise<void> {
    const target = foldTarget(await openIncidents(trx, thing.deployableId), thing);
    if (target !== undefined) {
      await foldFailure(trx, target.id, failure);
    } else {
      const { incident, opened } = await openIncident(trx, thing, { type: event.type, eventId: event.id }, failure);
      if (opened) {
        await deps.outbox.enqueue(trx, [
          createDomainEvent('incident.opened', {
            subject: event.subject,
            correlationId: incident.id,
            data: { incidentId: incident.id, level: incident.level, trigger: event.type, triggerEventId: event.id },
          }),
        ]);
      }
    }
    await wake(trx, thing.deployableId);
  }

  /** The deployable (locked) and assembly an assembly failure is about, when it should run and the event is about its current VM. */
  async function failingAssembly(trx: Trx, event: FailureEvent, instanceId: string | undefined): Promise<{ deployable: DeployableRow; assembly: AssemblyRow } | undefined> {
    const deployable = await lockedDeployable(trx, event.subject.deployableId);
    if (deployable?.desired !== 'running') return undefined;
    const assembly = await assemblyOf(trx, deployable.id, event.subject.assemblyId);
    if (assembly === undefined || !aboutCurrentVm(assembly, instanceId)) return undefined;
    return { deployable, assembly };
  }

  async function assemblyFailed(event: DomainEvent<'assembly.failed' | 'assembly.unresponsive'>, trx: Trx): Promise<void> {
    const found = await failingAssembly(trx, event, event.data.instanceId);
    if (found === undefined) return;
    const { data } = event;
    await recordFailure(trx, event, { level: 'assembly', deployableId: found.deployable.id, assemblyId: found.assembly.id }, {
      type: event.type,
      eventId: event.id,
      ...(data.failure === undefined ? {} : { kind: data.failure }),
      ...(data.cloudStatus === undefined ? {} : { cloudStatus: data.cloudStatus }),
      ...(data.instanceId === undefined ? {} : { instanceId: data.instanceId }),
      ...(event.reason === undefined ? {} : { detail: event.reason }),
      at: event.occurredAt,
    });
  }

  /** An event that may end an incident: the runner verifies and closes, the intake only wakes it. */
  async function wakeIfConcerned(trx: Trx, deployableId: string, assemblyId: string, resourceId?: string): Promise<void> {
    const open = await openIncidents(trx, deployableId);
    if (open.some((row) => concerns(row, assemblyId, resourceId))) await wake(trx, deployableId);
  }

  async function setDeployableMaintenance(trx: Trx, deployableId: string, maintenance: boolean): Promise<void> {
    const changed = await trx.updateTable('deployables').set({ maintenance, updated_at: sql<Date>`clock_timestamp()` }).where('id', '=', deployableId).executeTakeFirst();
    if (changed.numUpdatedRows > 0n) await wake(trx, deployableId);
  }

  async function setAssemblyMaintenance(trx: Trx, event: DomainEvent<'assembly.maintenance-entered' | 'assembly.maintenance-left'>, maintenance: boolean): Promise<void> {
    const changed = await trx
      .updateTable('assemblies')
      .set({ maintenance, updated_at: sql<Date>`clock_timestamp()` })
      .where('id', '=', event.subject.assemblyId)
      .where('deployable_id', '=', event.subject.deployableId)
      .executeTakeFirst();
    if (changed.numUpdatedRows > 0n) await wake(trx, event.subject.deployableId);
  }

  /** Sets what the user wants of a known deployable; a request older than the stored manifest (redelivered late) is ignored. */
  async function setDesired(trx: Trx, deployableId: string, desired: 'stopped' | 'deleted', version?: number): Promise<void> {
    let update = trx.updateTable('deployables').set({ desired, updated_at: sql<Date>`clock_timestamp()` }).where('id', '=', deployableId);
    if (version !== undefined) update = update.where('version', '<=', version);
    const changed = await update.executeTakeFirst();
    if (changed.numUpdatedRows > 0n) await wake(trx, deployableId);
  }

  const handlers: { [T in (typeof consumedEventTypes)[number]]: (event: DomainEvent<T>, trx: Trx) => Promise<void> } = {
    async 'deployable.start-requested'(event, trx) {
      const { subject, data } = event;
      const manifest: Manifest = data.manifest;
      // One statement decides between new, newer, same and older, so two intakes cannot interleave.
      const stored = await trx
        .insertInto('deployables')
        .values({
          id: subject.deployableId,
          name: subject.deployable,
          cloud: data.cloud,
          version: data.version,
          manifest: JSON.stringify(manifest),
          assembly_ids: JSON.stringify(data.assemblyIds),
          resource_ids: JSON.stringify(data.resourceIds),
          desired: 'running',
          state: 'stopped',
        })
        .onConflict((conflict) =>
          conflict
            .column('id')
            .doUpdateSet((eb) => ({
              name: eb.ref('excluded.name'),
              cloud: eb.ref('excluded.cloud'),
              version: eb.ref('excluded.version'),
              manifest: eb.ref('excluded.manifest'),
              assembly_ids: eb.ref('excluded.assembly_ids'),
              resource_ids: eb.ref('excluded.resource_ids'),
              desired: 'running',
              updated_at: sql<Date>`clock_timestamp()`,
            }))
            .where('deployables.version', '<=', data.version),
        )
        .returning('id')
        .executeTakeFirst();
      if (stored === undefined) return;
      const assemblies = manifest.assemblies.flatMap((assembly) => {
        const id = data.assemblyIds[assembly.name];
        return id === undefined ? [] : [{ id, deployable_id: subject.deployableId, name: assembly.name, phase: 'absent' as const }];
      });
      if (assemblies.length > 0) await trx.insertInto('assemblies').values(assemblies).onConflict((conflict) => conflict.column('id').doNothing()).execute();
      await wake(trx, subject.deployableId);
    },

    async 'deployable.stop-requested'(event, trx) {
      await setDesired(trx, event.subject.deployableId, 'stopped', event.data.version);
    },

    async 'deployable.deleted'(event, trx) {
      await setDesired(trx, event.subject.deployableId, 'deleted');
    },

    'assembly.failed': assemblyFailed,
    'assembly.unresponsive': assemblyFailed,

    async 'resource.failed'(event, trx) {
      const found = await failingAssembly(trx, event, undefined);
      const { subject, data } = event;
      if (found === undefined || found.deployable.resource_ids[resourceIdKey(found.assembly.name, subject.resource)] !== subject.resourceId) return;
      await recordFailure(trx, event, { level: 'resource', deployableId: found.deployable.id, assemblyId: found.assembly.id, resourceId: subject.resourceId }, {
        type: event.type,
        eventId: event.id,
        kind: 'resource-failed',
        detail: data.detail === undefined ? data.state : `${data.state}: ${data.detail}`,
        at: event.occurredAt,
      });
    },

    async 'assembly.running'(event, trx) {
      const { subject, data } = event;
      await trx
        .updateTable('assemblies')
        .set({ addresses: JSON.stringify(data.addresses), updated_at: sql<Date>`clock_timestamp()` })
        .where('id', '=', subject.assemblyId)
        .where('deployable_id', '=', subject.deployableId)
        .where('instance_id', '=', data.instanceId)
        .execute();
      await wakeIfConcerned(trx, subject.deployableId, subject.assemblyId);
    },

    async 'resource.running'(event, trx) {
      await wakeIfConcerned(trx, event.subject.deployableId, event.subject.assemblyId, event.subject.resourceId);
    },

    async 'assembly.recovered'(event, trx) {
      await wakeIfConcerned(trx, event.subject.deployableId, event.subject.assemblyId);
    },

    async 'assembly.address-changed'(event, trx) {
      const { subject, data } = event;
      const deployable = await lockedDeployable(trx, subject.deployableId);
      if (deployable === undefined) return;
      const assembly = await assemblyOf(trx, deployable.id, subject.assemblyId);
      if (assembly === undefined || assembly.instance_id !== data.instanceId) return;
      await trx.updateTable('assemblies').set({ addresses: JSON.stringify(data.current), updated_at: sql<Date>`clock_timestamp()` }).where('id', '=', assembly.id).execute();
      const referencing = new Map<string, { assembly_id: string; resource: string }>();
      for (const reference of paramReferencesTo(deployable.manifest, assembly.name)) {
        const assemblyId = deployable.assembly_ids[reference.assembly];
        if (assemblyId !== undefined) referencing.set(`${assemblyId}/${reference.resource}`, { assembly_id: assemblyId, resource: reference.resource });
      }
      if (referencing.size > 0) {
        await trx
          .insertInto('reconfigurations')
          .values([...referencing.values()].map((row) => ({ ...row, deployable_id: deployable.id, cause_event_id: event.id })))
          .onConflict((conflict) =>
            conflict.columns(['assembly_id', 'resource']).doUpdateSet({ cause_event_id: event.id, attempts: 0, not_before: null, last_error: null }),
          )
          .execute();
      }
      await wake(trx, deployable.id);
    },

    async 'deployable.maintenance-entered'(event, trx) {
      await setDeployableMaintenance(trx, event.subject.deployableId, true);
    },
    async 'deployable.maintenance-left'(event, trx) {
      await setDeployableMaintenance(trx, event.subject.deployableId, false);
    },
    async 'assembly.maintenance-entered'(event, trx) {
      await setAssemblyMaintenance(trx, event, true);
    },
    async 'assembly.maintenance-left'(event, trx) {
      await setAssemblyMaintenance(trx, event, false);
    },
  };
  return handlers;
}
