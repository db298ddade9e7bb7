/**
 * The monitor's tables, typed once. What it watches (deployables, assemblies) and what the clouds
 * said (cloud views) carry a `revision` from one sequence, bumped on every change, so every
 * replica follows them by reading what is newer than the last revision it applied. Verdicts
 * remember which observation became which event, so none becomes two across replicas.
 */
import type { CloudConnectionTables } from '@defib/clouds';
import type { Address } from '@defib/contracts';
import type { LeaseTables, PlatformTables } from '@defib/platform';
import type { ColumnType, Generated, Selectable } from 'kysely';

/** int8 columns come back as strings; set by the sequence, bumped (`nextval`) on every update. */
type Revision = ColumnType<string, never, string>;
type Json<T> = ColumnType<T, string, string>;

export interface WatchedDeployableTable {
  id: string;
  name: string;
  cloud: string;
  version: number;
  /** `running` while it should run; `stopping`/`stopped` are never alarmed on. */
  state: 'running' | 'stopping' | 'stopped' | 'deleted';
  revision: Revision;
  updated_at: ColumnType<Date, never, never>;
}

export interface WatchedAssemblyTable {
  id: string;
  deployable_id: string;
  /** The deployable's name (subjects of events name both). */
  deployable: string;
  name: string;
  cloud: string;
  interval_ms: number;
  missed: number;
  resources: Json<{ id: string; name: string }[]>;
  /** The VM that should run it now (from `assembly.launched`); null before the first launch. */
  instance_id: ColumnType<string | null, string | null | undefined, string | null>;
  addresses: ColumnType<Address[], string | undefined, string>;
  launched_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** `launched` while its VM should run; `stopped` after `assembly.stopped`; `removed` when a new manifest version dropped it. */
  state: 'awaiting-launch' | 'launched' | 'stopped' | 'removed';
  revision: Revision;
}

export interface CloudViewTable {
  instance_id: string;
  cloud: string;
  state: string;
  cloud_status: string;
  health: Json<unknown>;
  addresses: Json<Address[]>;
  zone: string | null;
  host_id: string | null;
  observed_at: Date;
  /** Since when the cloud says `state` (first seen so). */
  state_since: Date | null;
  revision: Revision;
}

export interface VerdictTable {
  /** The observation's key (see watch.ts): the same on every replica. */
  key: string;
  event_id: string;
  type: string;
  deployable_id: string;
  holder: string;
  emitted_at: Generated<Date>;
}

export interface MonitorTables extends PlatformTables, LeaseTables, CloudConnectionTables {
  watched_deployables: WatchedDeployableTable;
  watched_assemblies: WatchedAssemblyTable;
  cloud_views: CloudViewTable;
  verdicts: VerdictTable;
}

export type WatchedAssemblyRow = Selectable<WatchedAssemblyTable>;
export type WatchedDeployableRow = Selectable<WatchedDeployableTable>;
export type CloudViewRow = Selectable<CloudViewTable>;
