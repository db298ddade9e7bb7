/**
 * What the monitor watches, in its own tables: written by the event intake (one replica handles
 * each event), read by every replica by revision. Writers take one transaction-level advisory
 * lock before touching a revisioned row, so revisions become visible in the order they were
 * taken and a reader that applied revision N never later finds a smaller one committing.
 */
import type { Address } from '@defib/contracts';
import { sql, type Insertable, type Kysely, type Transaction } from 'kysely';
import type { CloudViewRow, MonitorTables, WatchedAssemblyRow, WatchedAssemblyTable, WatchedDeployableRow } from './tables.ts';
import type { CloudView } from './watch.ts';

/** Notified after every change to what is watched or to a cloud view. */
export const WATCH_CHANNEL = 'monitor_watch';


/** Serialises revisioned writes until the transaction ends, then wakes every replica's sync. */
async function lockAndNotify(trx: Transaction<MonitorTables>): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${WATCH_CHANNEL}))`.execute(trx);
  await sql`select pg_notify(${WATCH_CHANNEL}, '')`.execute(trx);
}

export interface AssemblyToWatch {
  id: string;
  name: string;
  intervalMs: number;
  missed: number;
  resources: { id: string; name: string }[];
}

/** Everything newer than a revision. */
export interface WatchChanges {
  deployables: WatchedDeployableRow[];
  assemblies: WatchedAssemblyRow[];
  views: CloudViewRow[];
  /** The highest revision among them (or the one asked after, when nothing changed). */
  revision: number;
}

export const watchRepository = {
  /** A deployable starts (or rolls out a new version): watch its assemblies with the manifest's settings; drop assemblies the new version no longer has. */
  async startDeployable(trx: Transaction<MonitorTables>, deployable: { id: string; name: string; cloud: string; version: number }, assemblies: readonly AssemblyToWatch[]): Promise<void> {
    await lockAndNotify(trx);
    const bump = sql<string>`nextval('watch_revision')`;
    await trx
      .insertInto('watched_deployables')
      .values({ id: deployable.id, name: deployable.name, cloud: deployable.cloud, version: deployable.version, state: 'running' })
      .onConflict((c) => c.column('id').doUpdateSet({ name: deployable.name, cloud: deployable.cloud, version: deployable.version, state: 'running', revision: bump }))
      .execute();
    for (const assembly of assemblies) {
      await trx
        .insertInto('watched_assemblies')
        .values({
          id: assembly.id,
          deployable_id: deployable.id,
          deployable: deployable.name,
          name: assembly.name,
          cloud: deployable.cloud,
          interval_ms: assembly.intervalMs,
          missed: assembly.missed,
          resources: JSON.stringify(assembly.resources),
          state: 'awaiting-launch',
        })
        .onConflict((c) =>
          c.column('id').doUpdateSet({
            deployable: deployable.name,
            name: assembly.name,
            cloud: deployable.cloud,
            interval_ms: assembly.intervalMs,
            missed: assembly.missed,
            resources: JSON.stringify(assembly.resources),
            // A VM that runs keeps being watched; one stopped or dropped waits for its launch.
            state: sql`case when watched_assemblies.state = 'launched' then 'launched' else 'awaiting-launch' end`,
            revision: bump,
          }),
        )
        .execute();
    }
    const kept = assemblies.map((assembly) => assembly.id);
    let dropped = trx.updateTable('watched_assemblies').set({ state: 'removed', revision: bump }).where('deployable_id', '=', deployable.id).where('state', '!=', 'removed');
    if (kept.length > 0) dropped = dropped.where('id', 'not in', kept);
    await dropped.execute();
  },

  /** The deployable stops, is stopped, or is deleted: nothing of it is alarmed on any more. */
  async setDeployableState(trx: Transaction<MonitorTables>, id: string, state: 'stopping' | 'stopped' | 'deleted'): Promise<void> {
    await lockAndNotify(trx);
    await trx.updateTable('watched_deployables').set({ state, revision: sql<string>`nextval('watch_revision')` }).where('id', '=', id).execute();
    if (state === 'deleted') {
      await trx.updateTable('watched_assemblies').set({ state: 'removed', revision: sql<string>`nextval('watch_revision')` }).where('deployable_id', '=', id).execute();
    }
  },

  /**
   * A VM was launched for an assembly. The launch may come before the start request was taken in
   * (they travel separately): then the assembly is watched with the default heartbeat settings
   * until the start request brings the manifest's.
   */
  async launched(
    trx: Transaction<MonitorTables>,
    launch: { deployableId: string; deployable: string; assemblyId: string; assembly: string; cloud: string; instanceId: string; addresses: readonly Address[]; launchedAt: Date },
  ): Promise<void> {
    await lockAndNotify(trx);
    const bump = sql<string>`nextval('watch_revision')`;
    await trx
      .insertInto('watched_deployables')
      .values({ id: launch.deployableId, name: launch.deployable, cloud: launch.cloud, version: 1, state: 'running' })
      .onConflict((c) => c.column('id').doNothing())
      .execute();
    const values: Insertable<WatchedAssemblyTable> = {
      id: launch.assemblyId,
      deployable_id: launch.deployableId,
      deployable: launch.deployable,
      name: launch.assembly,
      cloud: launch.cloud,
      interval_ms: 1_000,
      missed: 3,
      resources: '[]',
      instance_id: launch.instanceId,
      addresses: JSON.stringify(launch.addresses),
      launched_at: launch.launchedAt,
      state: 'launched',
    };
    await trx
      .insertInto('watched_assemblies')
      .values(values)
      .onConflict((c) =>
        c.column('id').doUpdateSet({ instance_id: launch.instanceId, addresses: JSON.stringify(launch.addresses), launched_at: launch.launchedAt, state: 'launched', cloud: launch.cloud, revision: bump }),
      )
      .execute();
  },

  /** An assembly's VM was stopped on purpose (confirmed by the cloud): its silence is expected. */
  async stopped(trx: Transaction<MonitorTables>, assemblyId: string, instanceId: string | undefined): Promise<void> {
    await lockAndNotify(trx);
    let update = trx.updateTable('watched_assemblies').set({ state: 'stopped', revision: sql<string>`nextval('watch_revision')` }).where('id', '=', assemblyId).where('state', '=', 'launched');
    // A stop of an older VM says nothing about the current one.
    if (instanceId !== undefined) update = update.where('instance_id', '=', instanceId);
    await update.execute();
  },

  /** Records what the clouds say of the VMs whose view changed. */
  async saveViews(db: Kysely<MonitorTables>, views: readonly CloudView[]): Promise<void> {
    if (views.length === 0) return;
    // A listing read in pages while VMs come and go can show one VM twice; one upsert may touch a row once.
    const unique = [...new Map(views.map((view) => [view.instanceId, view])).values()];
    await db.transaction().execute(async (trx) => {
      await lockAndNotify(trx);
      await trx
        .insertInto('cloud_views')
        .values(
          unique.map((view) => ({
            instance_id: view.instanceId,
            cloud: view.cloud,
            state: view.state,
            cloud_status: view.cloudStatus,
            health: JSON.stringify(view.health ?? null),
            addresses: JSON.stringify(view.addresses),
            zone: view.zone ?? null,
            host_id: view.hostId ?? null,
            observed_at: new Date(view.observedAt),
            state_since: view.stateSince === undefined ? null : new Date(view.stateSince),
          })),
        )
        .onConflict((c) =>
          c.column('instance_id').doUpdateSet((eb) => ({
            cloud: eb.ref('excluded.cloud'),
            state: eb.ref('excluded.state'),
            cloud_status: eb.ref('excluded.cloud_status'),
            health: eb.ref('excluded.health'),
            addresses: eb.ref('excluded.addresses'),
            zone: eb.ref('excluded.zone'),
            host_id: eb.ref('excluded.host_id'),
            observed_at: eb.ref('excluded.observed_at'),
            state_since: eb.ref('excluded.state_since'),
            revision: sql<string>`nextval('watch_revision')`,
          })),
        )
        .execute();
    });
  },

  /**
   * Everything that changed after `revision` (everything, from 0), read in one snapshot: three
   * separate reads could see a deployable's change miss the first read, commit, and an assembly's
   * later change make the second, so the reader would move past the deployable's revision for good.
   */
  async changesSince(db: Kysely<MonitorTables>, revision: number): Promise<WatchChanges> {
    const after = String(revision);
    const { deployables, assemblies, views } = await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => ({
        deployables: await trx.selectFrom('watched_deployables').selectAll().where('revision', '>', after as never).orderBy('revision').execute(),
        assemblies: await trx.selectFrom('watched_assemblies').selectAll().where('revision', '>', after as never).orderBy('revision').execute(),
        views: await trx.selectFrom('cloud_views').selectAll().where('revision', '>', after as never).orderBy('revision').execute(),
      }));
    let latest = revision;
    for (const row of [...deployables, ...assemblies, ...views]) latest = Math.max(latest, Number(row.revision));
    return { deployables, assemblies, views, revision: latest };
  },

  /** Forgets verdicts older than the retention: long past any takeover that could repeat them. */
  async prune(db: Kysely<MonitorTables>, verdictRetentionMs: number): Promise<void> {
    await db.deleteFrom('verdicts').where('emitted_at', '<', sql<Date>`clock_timestamp() - ${verdictRetentionMs} * interval '1 millisecond'`).execute();
  },
};
