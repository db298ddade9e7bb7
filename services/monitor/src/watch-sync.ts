/**
 * Keeps this replica's detector in step with the watch tables: at start everything (each assembly
 * that should run gets one full timeout of grace: the monitor's restart is not a VM failure), then
 * whatever changed, when the tables notify and on a slow poll besides.
 */
import type { Address } from '@defib/contracts';
import type { Clock, Logger } from '@defib/platform';
import type { Kysely } from 'kysely';
import type { CloudViewRow, MonitorTables, WatchedAssemblyRow, WatchedDeployableRow } from './tables.ts';
import { watchRepository } from './watch.repository.ts';
import type { CloudView, WatchSpec } from './watch.ts';

/** What the sync drives: the detector's watch API. */
export interface WatchTarget {
  watch(spec: WatchSpec, current?: { instanceId: string; addresses: readonly Address[]; launchedAt?: number; state?: 'booting' | 'restart' }): void;
  launched(assemblyId: string, instanceId: string, addresses: readonly Address[], launchedAt: number): void;
  idle(assemblyId: string): void;
  unwatch(assemblyId: string): void;
  liveness(assemblyId: string): { readonly instanceId: string | undefined; readonly state: string } | undefined;
}

export interface WatchSyncOptions {
  db: Kysely<MonitorTables>;
  target: WatchTarget;
  clock: Clock;
  logger: Logger;
  bootGraceMs: number;
  /** A cloud view that is new or changed. */
  onView: (view: CloudView) => void;
}

/** A deployable as the replica knows it. */
export interface KnownDeployable {
  readonly id: string;
  readonly name: string;
  readonly cloud: string;
  readonly version: number;
  readonly state: WatchedDeployableRow['state'];
  readonly assemblies: ReadonlySet<string>;
}

export function viewFromRow(row: CloudViewRow): CloudView {
  return {
    cloud: row.cloud,
    instanceId: row.instance_id,
    state: row.state as CloudView['state'],
    cloudStatus: row.cloud_status,
    health: (row.health ?? undefined) as CloudView['health'],
    addresses: row.addresses,
    zone: row.zone ?? undefined,
    hostId: row.host_id ?? undefined,
    observedAt: row.observed_at.getTime(),
    ...(row.state_since === null ? {} : { stateSince: row.state_since.getTime() }),
  };
}

export class WatchSync {
  readonly #options: WatchSyncOptions;
  readonly #deployables = new Map<string, { row: WatchedDeployableRow; assemblies: Set<string> }>();
  readonly #byName = new Map<string, string>();
  readonly #assemblies = new Map<string, WatchedAssemblyRow>();
  readonly #byInstance = new Map<string, string>();
  readonly #views = new Map<string, CloudView>();
  #revision = 0;
  #loaded = false;
  #syncing: Promise<void> | undefined;
  #again = false;

  constructor(options: WatchSyncOptions) {
    this.#options = options;
  }

  deployableByName(name: string): KnownDeployable | undefined {
    const id = this.#byName.get(name);
    return id === undefined ? undefined : this.deployable(id);
  }

  deployable(id: string): KnownDeployable | undefined {
    const known = this.#deployables.get(id);
    if (known === undefined) return undefined;
    const { row } = known;
    return { id: row.id, name: row.name, cloud: row.cloud, version: row.version, state: row.state, assemblies: known.assemblies };
  }

  assemblyOf(instanceId: string): string | undefined {
    return this.#byInstance.get(instanceId);
  }

  view(instanceId: string): CloudView | undefined {
    return this.#views.get(instanceId);
  }

  /** A view this replica looked up itself (not yet in the table). */
  rememberView(view: CloudView): void {
    const known = this.#views.get(view.instanceId);
    if (known === undefined || known.observedAt <= view.observedAt) this.#views.set(view.instanceId, view);
  }

  /** Per cloud, the VMs that should run on it now: what the cloud watch expects to find. */
  expectedInstances(): Map<string, Set<string>> {
    const byCloud = new Map<string, Set<string>>();
    for (const row of this.#assemblies.values()) {
      if (row.instance_id === null || row.state !== 'launched') continue;
      let set = byCloud.get(row.cloud);
      if (set === undefined) byCloud.set(row.cloud, (set = new Set()));
      set.add(row.instance_id);
    }
    return byCloud;
  }

  /** Every cloud some deployable runs on. */
  clouds(): Set<string> {
    return new Set([...this.#deployables.values()].filter(({ row }) => row.state !== 'deleted').map(({ row }) => row.cloud));
  }

  /** Applies everything newer than the last revision; concurrent calls fold into one more round. */
  sync(): Promise<void> {
    if (this.#syncing !== undefined) {
      this.#again = true;
      return this.#syncing;
    }
    this.#syncing = (async () => {
      try {
        do {
          this.#again = false;
          await this.#apply();
        } while (this.#again);
      } finally {
        this.#syncing = undefined;
      }
    })();
    return this.#syncing;
  }

  async #apply(): Promise<void> {
    const changes = await watchRepository.changesSince(this.#options.db, this.#revision);
    const first = !this.#loaded;
    for (const row of changes.deployables) {
      const known = this.#deployables.get(row.id);
      if (known === undefined) this.#deployables.set(row.id, { row, assemblies: new Set() });
      else {
        if (known.row.name !== row.name) this.#byName.delete(known.row.name);
        known.row = row;
      }
      if (row.state === 'deleted') this.#byName.delete(row.name);
      else this.#byName.set(row.name, row.id);
    }
    const touched = new Set<string>(changes.assemblies.map((row) => row.id));
    for (const row of changes.assemblies) {
      const previous = this.#assemblies.get(row.id);
      if (previous?.instance_id !== undefined && previous.instance_id !== null && this.#byInstance.get(previous.instance_id) === row.id) this.#byInstance.delete(previous.instance_id);
      this.#assemblies.set(row.id, row);
      if (row.instance_id !== null && row.state !== 'removed') this.#byInstance.set(row.instance_id, row.id);
      const deployable = this.#deployables.get(row.deployable_id);
      if (row.state === 'removed') deployable?.assemblies.delete(row.id);
      else deployable?.assemblies.add(row.id);
    }
    // A deployable that changed state changes what is expected of all its assemblies.
    for (const row of changes.deployables) for (const id of this.#deployables.get(row.id)?.assemblies ?? []) touched.add(id);
    for (const id of touched) this.#applyAssembly(id, first);
    for (const row of changes.assemblies) if (row.state === 'removed') this.#assemblies.delete(row.id);
    for (const row of changes.views) {
      const view = viewFromRow(row);
      this.rememberView(view);
      if (!first || this.#byInstance.has(view.instanceId)) this.#options.onView(view);
    }
    this.#revision = changes.revision;
    this.#loaded = true;
  }

  #applyAssembly(id: string, first: boolean): void {
    const { target, clock, bootGraceMs } = this.#options;
    const row = this.#assemblies.get(id);
    if (row === undefined) return;
    if (row.state === 'removed') {
      target.unwatch(id);
      return;
    }
    const deployable = this.#deployables.get(row.deployable_id)?.row;
    const spec: WatchSpec = {
      assemblyId: row.id,
      assembly: row.name,
      deployableId: row.deployable_id,
      deployable: row.deployable,
      cloud: row.cloud,
      intervalMs: row.interval_ms,
      missed: row.missed,
      resources: row.resources,
    };
    const expected = row.state === 'launched' && row.instance_id !== null && (deployable === undefined || deployable.state === 'running');
    if (!expected) {
      target.watch(spec);
      // Awaiting its launch, the detector may adopt the first beat; stopped on purpose, nothing is expected.
      if (row.state !== 'awaiting-launch' || deployable?.state !== 'running') target.idle(id);
      return;
    }
    const instanceId = row.instance_id as string;
    const launchedAt = row.launched_at?.getTime() ?? clock.now();
    const current = target.liveness(id);
    if (first || current === undefined) {
      const booting = launchedAt + bootGraceMs > clock.now();
      target.watch(spec, { instanceId, addresses: row.addresses, launchedAt, state: booting ? 'booting' : 'restart' });
      return;
    }
    target.watch(spec);
    if (current.instanceId !== instanceId || current.state === 'idle') target.launched(id, instanceId, row.addresses, launchedAt);
  }
}
