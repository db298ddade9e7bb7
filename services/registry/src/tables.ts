/**
 * The registry's tables, typed once. The registry owns the `registry` schema: the user's
 * desired configuration (clouds, deployables, assemblies, resources) and the observed-status
 * projection it builds from other services' events.
 */
import type { DeployableState, IncidentLevel, IncidentOutcome, RecoveryStep, ResourceState } from '@defib/contracts';
import type { PlatformTables } from '@defib/platform';
import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';

type CreatedAt = ColumnType<Date, never, never>;
type Timestamp = ColumnType<Date, Date | undefined, Date>;
type Json<T> = ColumnType<T, string, string>;

export interface CloudTable {
  name: string;
  provider: 'openstack' | 'ec2';
  /** Everything but the credentials, as registered. */
  settings: Json<Record<string, unknown>>;
  /** The credentials, sealed by the secret box. */
  sealed_credentials: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface DeployableTable {
  id: string;
  name: string;
  cloud: string;
  version: number;
  /** sha-256 of the canonical parsed manifest; an apply with the same digest changes nothing. */
  digest: string;
  /** The manifest as the user wrote it (parsed from JSON or YAML). */
  manifest: Json<unknown>;
  desired_state: 'running' | 'stopped';
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface AssemblyTable {
  id: string;
  deployable_id: string;
  name: string;
}

export interface ResourceTable {
  id: string;
  assembly_id: string;
  name: string;
}

export interface DeployableStatusTable {
  deployable_id: string;
  state: DeployableState;
  reason: string | null;
  changed_at: Date;
}

/** What the projection last heard of an assembly; `unknown` while only its addresses are known. */
export type ObservedAssemblyState = 'launched' | 'running' | 'unresponsive' | 'failed' | 'stopped' | 'unknown';

export interface AssemblyStatusTable {
  assembly_id: string;
  state: ObservedAssemblyState;
  instance_id: string | null;
  addresses: Json<unknown[]>;
  reason: string | null;
  changed_at: Date;
}

export interface ResourceStatusTable {
  resource_id: string;
  state: ResourceState;
  reason: string | null;
  changed_at: Date;
}

export interface IncidentTable {
  id: string;
  deployable_id: string;
  assembly_id: string | null;
  resource_id: string | null;
  level: IncidentLevel;
  /** The event type that opened it; `unknown` while only later events of it have arrived. */
  trigger: string;
  step: RecoveryStep | null;
  status: 'open' | 'resolved';
  outcome: IncidentOutcome | null;
  opened_at: Date;
  updated_at: Date;
}

export interface RecentEventTable {
  event_id: string;
  deployable_id: string;
  type: string;
  occurred_at: Date;
  reason: string | null;
  subject: Json<Record<string, unknown>>;
  data: Json<unknown>;
}

/**
 * A deployable in maintenance: its failures are still observed and reported, but not recovered.
 * The row exists only while maintenance lasts; deleting the deployable deletes it.
 */
export interface DeployableMaintenanceTable {
  deployable_id: string;
  since: Date;
  /** When it ends by itself; null while it lasts until asked to end. */
  until: Date | null;
  reason: string | null;
}

/** An assembly in maintenance, like {@link DeployableMaintenanceTable}; `deployable_id` finds a deployable's at once. */
export interface AssemblyMaintenanceTable {
  assembly_id: string;
  deployable_id: string;
  since: Date;
  until: Date | null;
  reason: string | null;
}

export interface RegistryTables extends PlatformTables {
  clouds: CloudTable;
  deployables: DeployableTable;
  assemblies: AssemblyTable;
  resources: ResourceTable;
  deployable_status: DeployableStatusTable;
  assembly_status: AssemblyStatusTable;
  resource_status: ResourceStatusTable;
  incidents: IncidentTable;
  recent_events: RecentEventTable;
  deployable_maintenance: DeployableMaintenanceTable;
  assembly_maintenance: AssemblyMaintenanceTable;
}

export type CloudRow = Selectable<CloudTable>;
export type NewCloud = Insertable<CloudTable>;
export type DeployableRow = Selectable<DeployableTable>;
export type NewDeployable = Insertable<DeployableTable>;
export type DeployableUpdate = Updateable<DeployableTable>;
export type AssemblyRow = Selectable<AssemblyTable>;
export type ResourceRow = Selectable<ResourceTable>;
export type DeployableStatusRow = Selectable<DeployableStatusTable>;
export type AssemblyStatusRow = Selectable<AssemblyStatusTable>;
export type ResourceStatusRow = Selectable<ResourceStatusTable>;
export type IncidentRow = Selectable<IncidentTable>;
export type RecentEventRow = Selectable<RecentEventTable>;
export type NewRecentEvent = Insertable<RecentEventTable>;
export type DeployableMaintenanceRow = Selectable<DeployableMaintenanceTable>;
export type AssemblyMaintenanceRow = Selectable<AssemblyMaintenanceTable>;
