/**
 * Recovery's tables, typed once. Everything recovery knows lives here, so a replica killed at any
 * moment is resumed from them by its restart or by another replica:
 * - `deployables` / `assemblies`: recovery's own copy of what should run (the manifest and ids from
 *   `deployable.start-requested`) and of what does (each assembly's VM, boot and addresses);
 * - `incidents`: one open incident per failing resource, assembly or deployable, with its latest
 *   observation;
 * - `steps`: the journal. Every action on a cloud or an agent is a step, written as an intent (with
 *   its action id and command id) before acting and completed with its outcome after; a resumed
 *   replica finishes an unfinished intent with the same ids instead of starting a new one;
 * - `reconfigurations`: resources waiting to be given an assembly's new address.
 */
import type { CloudConnectionTables } from '@defib/clouds';
import type { Address, DeployableState, IncidentLevel, IncidentOutcome, Manifest } from '@defib/contracts';
import type { LeaseTables, PlatformTables } from '@defib/platform';
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Json<T> = ColumnType<T, string, string>;
type Timestamp = ColumnType<Date, Date | undefined, Date>;
type NullableTimestamp = ColumnType<Date | null, Date | null | undefined, Date | null>;

/** What the user wants of a deployable: recovery converges on it. `deleted` is cleaned up, then forgotten. */
export type DesiredState = 'running' | 'stopped' | 'deleted';

export interface DeployableTable {
  id: string;
  name: string;
  cloud: string;
  /** Manifest version of `manifest`. */
  version: number;
  manifest: Json<Manifest>;
  /** Registry id of every assembly, by name. */
  assembly_ids: Json<Record<string, string>>;
  /** Registry id of every resource, by `<assembly>/<resource>`. */
  resource_ids: Json<Record<string, string>>;
  desired: DesiredState;
  /** The deployable's state: recovery alone owns it and announces every change (`deployable.state-changed`). */
  state: DeployableState;
  state_changed_at: Timestamp;
  /** In maintenance: failures are recorded, not acted on. */
  maintenance: ColumnType<boolean, boolean | undefined, boolean>;
  /** When a runner should look at it next (work arrived, a backoff or a deadline ends); null when there is nothing to do. */
  due_at: NullableTimestamp;
  /** Consecutive passes that errored (a bug or poison input in this deployable's data): the retry backs off on it. */
  errors: ColumnType<number, number | undefined, number>;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  updated_at: Timestamp;
}

/**
 * Where an assembly's VM is in its life, as recovery drives it:
 * `absent` (no VM: never launched, or stopped and terminated); `launching` (a launch intent is
 * written); `booting` (the cloud made the VM, its agent has not answered yet); `running` (its agent
 * answered); `failed` (an open incident is about it); `stopping` (a stop intent is written);
 * `stopped` (terminated and confirmed by the cloud); `removed` (a new manifest version dropped it:
 * stopped, then deleted).
 */
export const assemblyPhases = ['absent', 'launching', 'booting', 'running', 'failed', 'stopping', 'stopped', 'removed'] as const;
export type AssemblyPhase = (typeof assemblyPhases)[number];

export interface AssemblyTable {
  id: string;
  deployable_id: string;
  name: string;
  phase: AssemblyPhase;
  /** The VM that runs it now; null before the first launch and after a confirmed stop. */
  instance_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The boot its agent last answered from (a reboot is verified by a new one). */
  boot_id: ColumnType<string | null, string | null | undefined, string | null>;
  addresses: ColumnType<Address[], string | undefined, string>;
  /** Manifest version the running VM was launched from, and the hash of its assembly spec then: a roll-out replaces only what changed. */
  launched_version: ColumnType<number | null, number | null | undefined, number | null>;
  spec_hash: ColumnType<string | null, string | null | undefined, string | null>;
  maintenance: ColumnType<boolean, boolean | undefined, boolean>;
  updated_at: Timestamp;
}

/** `open`: being recovered; `errored`: recovery hit an error outside the ladder and retries with backoff; `closed`: ended with an outcome. */
export type IncidentStatus = 'open' | 'errored' | 'closed';

/** The latest failure folded into an incident, as the triggering event said it. */
export interface FailureObservation {
  /** The event type: `assembly.failed`, `assembly.unresponsive`, `resource.failed`, … */
  type: string;
  eventId?: string;
  /** `crashed`, `boot-failed`, `hung`, `hung-or-partitioned` (assembly.failed/unresponsive), or the resource's state. */
  kind?: string;
  cloudStatus?: string;
  instanceId?: string;
  detail?: string;
  at: string;
}

export interface IncidentTable {
  id: string;
  deployable_id: string;
  assembly_id: ColumnType<string | null, string | null | undefined, string | null>;
  resource_id: ColumnType<string | null, string | null | undefined, string | null>;
  level: IncidentLevel;
  status: IncidentStatus;
  outcome: ColumnType<IncidentOutcome | null, IncidentOutcome | null | undefined, IncidentOutcome | null>;
  /** Type of the event that opened it. */
  trigger: string;
  trigger_event_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The latest observation folded into it. */
  failure: Json<FailureObservation>;
  /** Failure events folded into it, the opening one included. */
  observations: ColumnType<number, number | undefined, number>;
  /** Not acted on before this (an errored incident's backoff). */
  not_before: NullableTimestamp;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  errors: ColumnType<number, number | undefined, number>;
  opened_at: Timestamp;
  updated_at: Timestamp;
  closed_at: NullableTimestamp;
}

/**
 * What a step is: a rung of the ladder (`restart-resource` … `restart-deployable`), or part of the
 * deployable's life (`launch`, `stop`, `fence`, `reconfigure`).
 */
export const stepKinds = ['restart-resource', 'reboot', 'hard-reboot', 'recreate', 'restart-deployable', 'launch', 'stop', 'fence', 'reconfigure'] as const;
export type StepKind = (typeof stepKinds)[number];

/**
 * `intended`: written before acting, with the ids the action will use; `verifying`: the action was
 * taken, recovery waits for proof (a heartbeat answer from the VM, the cloud confirming a stop);
 * `succeeded` / `failed`: verified or not; `skipped`: the rung could not help this failure (the
 * reason says why), nothing was done.
 */
export const stepStates = ['intended', 'verifying', 'succeeded', 'failed', 'skipped'] as const;
export type StepState = (typeof stepStates)[number];

export interface StepTable {
  id: Generated<string>;
  deployable_id: string;
  incident_id: ColumnType<string | null, string | null | undefined, string | null>;
  assembly_id: ColumnType<string | null, string | null | undefined, string | null>;
  resource_id: ColumnType<string | null, string | null | undefined, string | null>;
  kind: StepKind;
  /** 1 for the first try of this kind within the incident. */
  attempt: ColumnType<number, number | undefined, number>;
  /** What was asked of the cloud or agent: `reboot-soft`, `reboot-hard`, `start`, `terminate`, `launch`, `restart`, `reconfigure`, `none` (skipped). */
  action: string;
  /** The cloud action's idempotency key (a launch's `ClientToken` / `defib-action`); reused when resumed. */
  action_id: string;
  /** The agent command's id; reused when resumed, and the agent answers it again. */
  command_id: ColumnType<string | null, string | null | undefined, string | null>;
  state: StepState;
  /** Why this step (or why it was skipped), for people. */
  reason: ColumnType<string | null, string | null | undefined, string | null>;
  error: ColumnType<string | null, string | null | undefined, string | null>;
  /** What the step needs to resume and what it found: the VM before and after, the boot before, parameters sent. */
  detail: ColumnType<Record<string, unknown>, string | undefined, string>;
  intended_at: Timestamp;
  acted_at: NullableTimestamp;
  finished_at: NullableTimestamp;
}

/** A resource waiting to be given the new address of an assembly it references. */
export interface ReconfigurationTable {
  deployable_id: string;
  /** The resource's assembly and name. */
  assembly_id: string;
  resource: string;
  /** The `assembly.address-changed` event that caused it (the latest, when several folded). */
  cause_event_id: ColumnType<string | null, string | null | undefined, string | null>;
  attempts: ColumnType<number, number | undefined, number>;
  not_before: NullableTimestamp;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
}

export interface RecoveryTables extends PlatformTables, LeaseTables, CloudConnectionTables {
  deployables: DeployableTable;
  assemblies: AssemblyTable;
  incidents: IncidentTable;
  steps: StepTable;
  reconfigurations: ReconfigurationTable;
}

export type DeployableRow = Selectable<DeployableTable>;
export type AssemblyRow = Selectable<AssemblyTable>;
export type IncidentRow = Selectable<IncidentTable>;
export type StepRow = Selectable<StepTable>;
export type ReconfigurationRow = Selectable<ReconfigurationTable>;
export type NewStep = Insertable<StepTable>;
export type IncidentUpdate = Updateable<IncidentTable>;
