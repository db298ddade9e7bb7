/**
 * The observed-status projection: the registry's view of what is actually running, built only
 * from the events the monitor and recovery publish. Each handler runs once per event (inbox),
 * ignores events about deployables it no longer knows, and never lets an older event overwrite
 * a newer state (events may arrive out of order after a redelivery).
 */
import type { DeployableState, DomainEvent, EventType, IncidentLevel, RecoveryStep, ResourceState } from '@defib/contracts';
import type { InboxHandlers } from '@defib/platform';
import type { Kysely, Transaction } from 'kysely';
import { maintenanceRepository } from './maintenance.repository.ts';
import { statusRepository, type AssemblyChange, type IncidentChanges } from './status.repository.ts';
import type { AssemblyMaintenanceRow, DeployableMaintenanceRow, ObservedAssemblyState, RegistryTables } from './tables.ts';

/** How many events per deployable the status keeps. */
export const RECENT_EVENTS_KEPT = 50;

type Trx = Transaction<RegistryTables>;
type ScopedEvent = Extract<DomainEvent, { subject: { deployableId: string } }>;

/**
 * Keeps `event` among the deployable's recent events (the last {@link RECENT_EVENTS_KEPT}). The
 * registry's own events (applied, start- and stop-requested) are kept in the transaction that emits them.
 */
export function remember(trx: Trx, event: ScopedEvent): Promise<void> {
  const { deployableId, deployable: _name, ...rest } = event.subject;
  return statusRepository.rememberEvent(
    trx,
    {
      event_id: event.id,
      deployable_id: deployableId,
      type: event.type,
      occurred_at: new Date(event.occurredAt),
      reason: event.reason ?? null,
      subject: JSON.stringify(rest),
      data: JSON.stringify(event.data),
    },
    RECENT_EVENTS_KEPT,
  );
}

function setDeployableState(trx: Trx, event: ScopedEvent, state: DeployableState): Promise<void> {
  return statusRepository.setDeployableState(trx, { deployableId: event.subject.deployableId, state, reason: event.reason ?? null, changedAt: new Date(event.occurredAt) });
}

async function setAssemblyState(trx: Trx, event: ScopedEvent, change: Omit<AssemblyChange, 'assemblyId' | 'changedAt' | 'reason'>): Promise<void> {
  const assemblyId = event.subject.assemblyId;
  if (assemblyId === undefined) return;
  await statusRepository.setAssemblyState(trx, { ...change, assemblyId, changedAt: new Date(event.occurredAt), reason: event.reason ?? null });
}

async function setResourceState(trx: Trx, event: ScopedEvent, state: 'running' | 'failed', reason: string | null): Promise<void> {
  const resourceId = event.subject.resourceId;
  if (resourceId === undefined) return;
  await statusRepository.setResourceState(trx, { resourceId, state, reason, changedAt: new Date(event.occurredAt) });
}

function levelOf(subject: ScopedEvent['subject']): IncidentLevel {
  return subject.resourceId !== undefined ? 'resource' : subject.assemblyId !== undefined ? 'assembly' : 'deployable';
}

/**
 * Records what an event says about an incident. Events of one incident can arrive in any order
 * (parallel consumers, redeliveries), so every one of them may create the row, and a change only
 * applies when it is newer than what the row holds.
 */
function recordIncident(trx: Trx, incidentId: string, event: ScopedEvent, changes: IncidentChanges): Promise<void> {
  const { subject } = event;
  return statusRepository.recordIncident(
    trx,
    { id: incidentId, deployableId: subject.deployableId, assemblyId: subject.assemblyId ?? null, resourceId: subject.resourceId ?? null, at: new Date(event.occurredAt), impliedLevel: levelOf(subject) },
    changes,
  );
}

type Projector<T extends EventType> = (trx: Trx, event: DomainEvent<T>) => Promise<void>;

/** What each consumed event does to the projection. */
const projectors: { [T in EventType]?: Projector<T> } = {
  'deployable.state-changed': (trx, event) => setDeployableState(trx, event, event.data.to),
  'assembly.launched': (trx, event) => setAssemblyState(trx, event, { state: 'launched', instanceId: event.data.instanceId, addresses: event.data.addresses }),
  'assembly.running': (trx, event) => setAssemblyState(trx, event, { state: 'running', instanceId: event.data.instanceId, addresses: event.data.addresses }),
  'assembly.recovered': (trx, event) => setAssemblyState(trx, event, { state: 'running', instanceId: event.data.instanceId, addresses: event.data.addresses }),
  'assembly.unresponsive': (trx, event) => setAssemblyState(trx, event, { state: 'unresponsive' }),
  'assembly.failed': (trx, event) => setAssemblyState(trx, event, { state: 'failed', instanceId: event.data.instanceId }),
  'assembly.address-changed': (trx, event) => setAssemblyState(trx, event, { instanceId: event.data.instanceId, addresses: event.data.current }),
  'assembly.stopped': (trx, event) => setAssemblyState(trx, event, { state: 'stopped', instanceId: null, addresses: [] }),
  'resource.failed': (trx, event) => setResourceState(trx, event, 'failed', event.data.detail ?? event.reason ?? null),
  'resource.running': (trx, event) => setResourceState(trx, event, 'running', null),
  'resource.restarted': (trx, event) => setResourceState(trx, event, 'running', 'restarted'),
  'incident.opened': (trx, event) => recordIncident(trx, event.data.incidentId, event, { level: event.data.level, trigger: event.data.trigger }),
  'recovery.started': (trx, event) => recordIncident(trx, event.data.incidentId, event, { step: event.data.step }),
  'recovery.escalated': (trx, event) => recordIncident(trx, event.data.incidentId, event, { step: event.data.to }),
  'recovery.step-succeeded': (trx, event) => recordIncident(trx, event.data.incidentId, event, { step: event.data.step }),
  'recovery.step-failed': (trx, event) => recordIncident(trx, event.data.incidentId, event, { step: event.data.step }),
  'recovery.gave-up': (trx, event) => recordIncident(trx, event.data.incidentId, event, {}),
  'incident.resolved': (trx, event) => recordIncident(trx, event.data.incidentId, event, { status: 'resolved', outcome: event.data.outcome }),
};

/** Event types the projection consumes. */
export const projectedEventTypes = Object.keys(projectors) as EventType[];

/**
 * Handlers that apply each consumed event to the projection; the kernel runs each in the inbox
 * transaction, so an event is applied once however often it arrives.
 */
export function statusProjectionHandlers(): InboxHandlers<RegistryTables> {
  const project = async (event: DomainEvent, trx: Trx) => {
    const subject = event.subject as { deployableId?: string };
    const projector = projectors[event.type] as Projector<EventType> | undefined;
    if (projector === undefined || subject.deployableId === undefined) return;
    const scoped = event as ScopedEvent;
    if (!(await statusRepository.deployableExists(trx, scoped.subject.deployableId))) return;
    await projector(trx, event);
    await remember(trx, scoped);
  };
  return Object.fromEntries(projectedEventTypes.map((type) => [type, project]));
}

/** Maintenance as the API shows it (in the status and the maintenance routes); `until` and `reason` only when set. */
export interface MaintenanceWindow {
  since: string;
  until?: string;
  reason?: string;
}

export function windowOf(row: DeployableMaintenanceRow | AssemblyMaintenanceRow): MaintenanceWindow {
  return {
    since: row.since.toISOString(),
    ...(row.until === null ? {} : { until: row.until.toISOString() }),
    ...(row.reason === null ? {} : { reason: row.reason }),
  };
}

/** The status document of one deployable. */
export interface DeployableStatus {
  deployable: {
    id: string;
    name: string;
    version: number;
    desired: 'running' | 'stopped';
    observed: DeployableState;
    reason: string | null;
    changedAt: string | null;
    /** Null unless in maintenance (failures reported, not recovered). */
    maintenance: MaintenanceWindow | null;
  };
  assemblies: {
    id: string;
    name: string;
    desired: 'running' | 'stopped';
    /** `pending` until the first event about it arrives for a deployable meant to run. */
    observed: ObservedAssemblyState | 'pending';
    instanceId: string | null;
    addresses: unknown[];
    reason: string | null;
    changedAt: string | null;
    /** Null unless this assembly is in maintenance itself (the deployable's maintenance is shown on the deployable). */
    maintenance: MaintenanceWindow | null;
    resources: { id: string; name: string; observed: ResourceState; reason: string | null; changedAt: string | null }[];
  }[];
  openIncidents: { id: string; level: IncidentLevel; trigger: string; step: RecoveryStep | null; assemblyId: string | null; resourceId: string | null; openedAt: string; updatedAt: string }[];
  recentEvents: { id: string; type: string; occurredAt: string; reason: string | null; subject: Record<string, unknown>; data: unknown }[];
}

export async function readStatus(
  db: Kysely<RegistryTables>,
  deployable: { id: string; name: string; version: number; desiredState: 'running' | 'stopped'; assemblies: { id: string; name: string; resources: { id: string; name: string }[] }[] },
  recentLimit: number,
): Promise<DeployableStatus> {
  const assemblyIds = deployable.assemblies.map((assembly) => assembly.id);
  const resourceIds = deployable.assemblies.flatMap((assembly) => assembly.resources.map((resource) => resource.id));
  // One snapshot, so the document never mixes states from before and after an event.
  const [overall, assemblies, resources, incidents, events, maintenance, assemblyMaintenance] = await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => [
      await statusRepository.deployableStatus(trx, deployable.id),
      await statusRepository.assemblyStatuses(trx, assemblyIds),
      await statusRepository.resourceStatuses(trx, resourceIds),
      await statusRepository.openIncidents(trx, deployable.id),
      await statusRepository.recentEvents(trx, deployable.id, recentLimit),
      await maintenanceRepository.deployable(trx, deployable.id),
      await maintenanceRepository.assemblies(trx, deployable.id),
    ] as const);
  return {
    deployable: {
      id: deployable.id,
      name: deployable.name,
      version: deployable.version,
      desired: deployable.desiredState,
      observed: overall?.state ?? 'stopped',
      reason: overall?.reason ?? null,
      changedAt: overall?.changed_at.toISOString() ?? null,
      maintenance: maintenance === undefined ? null : windowOf(maintenance),
    },
    assemblies: deployable.assemblies.map((assembly) => {
      const status = assemblies.find((row) => row.assembly_id === assembly.id);
      const inMaintenance = assemblyMaintenance.find((row) => row.assembly_id === assembly.id);
      return {
        id: assembly.id,
        name: assembly.name,
        desired: deployable.desiredState,
        observed: status?.state ?? (deployable.desiredState === 'running' ? 'pending' : 'stopped'),
        instanceId: status?.instance_id ?? null,
        addresses: status?.addresses ?? [],
        reason: status?.reason ?? null,
        changedAt: status?.changed_at.toISOString() ?? null,
        maintenance: inMaintenance === undefined ? null : windowOf(inMaintenance),
        resources: assembly.resources.map((resource) => {
          const resourceStatus = resources.find((row) => row.resource_id === resource.id);
          return {
            id: resource.id,
            name: resource.name,
            observed: resourceStatus?.state ?? 'unknown',
            reason: resourceStatus?.reason ?? null,
            changedAt: resourceStatus?.changed_at.toISOString() ?? null,
          };
        }),
      };
    }),
    openIncidents: incidents.map((incident) => ({
      id: incident.id,
      level: incident.level,
      trigger: incident.trigger,
      step: incident.step,
      assemblyId: incident.assembly_id,
      resourceId: incident.resource_id,
      openedAt: incident.opened_at.toISOString(),
      updatedAt: incident.updated_at.toISOString(),
    })),
    recentEvents: events.map((event) => ({
      id: event.event_id,
      type: event.type,
      occurredAt: event.occurred_at.toISOString(),
      reason: event.reason,
      subject: event.subject,
      data: event.data,
    })),
  };
}
