/**
 * Maintenance rows of deployables and assemblies. A row exists while maintenance lasts; ending it
 * deletes the row, and the expiry sweep deletes and returns in one statement, so two registry
 * replicas sweeping at once never both see the same row end.
 */
import type { Executor } from './cloud.repository.ts';
import type { AssemblyMaintenanceRow, DeployableMaintenanceRow } from './tables.ts';

/** Maintenance as it is entered: when it began, when it ends by itself (if ever), and why. */
export interface MaintenanceTerms {
  since: Date;
  until: Date | null;
  reason: string | null;
}

export const maintenanceRepository = {
  deployable(db: Executor, deployableId: string): Promise<DeployableMaintenanceRow | undefined> {
    return db.selectFrom('deployable_maintenance').selectAll().where('deployable_id', '=', deployableId).executeTakeFirst();
  },

  /** The maintenance of a deployable's assemblies. */
  assemblies(db: Executor, deployableId: string): Promise<AssemblyMaintenanceRow[]> {
    return db.selectFrom('assembly_maintenance').selectAll().where('deployable_id', '=', deployableId).execute();
  },

  async enterDeployable(db: Executor, deployableId: string, terms: MaintenanceTerms): Promise<void> {
    await db
      .insertInto('deployable_maintenance')
      .values({ deployable_id: deployableId, ...terms })
      .onConflict((conflict) => conflict.column('deployable_id').doUpdateSet({ until: terms.until, reason: terms.reason }))
      .execute();
  },

  async enterAssembly(db: Executor, assembly: { deployableId: string; assemblyId: string }, terms: MaintenanceTerms): Promise<void> {
    await db
      .insertInto('assembly_maintenance')
      .values({ assembly_id: assembly.assemblyId, deployable_id: assembly.deployableId, ...terms })
      .onConflict((conflict) => conflict.column('assembly_id').doUpdateSet({ until: terms.until, reason: terms.reason }))
      .execute();
  },

  /** Ends a deployable's maintenance; whether it was in maintenance. */
  async leaveDeployable(db: Executor, deployableId: string): Promise<boolean> {
    const ended = await db.deleteFrom('deployable_maintenance').where('deployable_id', '=', deployableId).returning('deployable_id').executeTakeFirst();
    return ended !== undefined;
  },

  /** Ends an assembly's maintenance; whether it was in maintenance. */
  async leaveAssembly(db: Executor, assemblyId: string): Promise<boolean> {
    const ended = await db.deleteFrom('assembly_maintenance').where('assembly_id', '=', assemblyId).returning('assembly_id').executeTakeFirst();
    return ended !== undefined;
  },

  /** Ends every deployable's maintenance whose `until` is at or before `now`, returning them with their names. */
  expireDeployables(db: Executor, now: Date): Promise<{ deployable_id: string; deployable: string }[]> {
    return db
      .deleteFrom('deployable_maintenance')
      .using('deployables')
      .whereRef('deployables.id', '=', 'deployable_maintenance.deployable_id')
      .where('deployable_maintenance.until', '<=', now)
      .returning(['deployable_maintenance.deployable_id', 'deployables.name as deployable'])
      .execute();
  },

  /** Ends every assembly's maintenance whose `until` is at or before `now`, returning them with their names. */
  expireAssemblies(db: Executor, now: Date): Promise<{ deployable_id: string; deployable: string; assembly_id: string; assembly: string }[]> {
    return db
      .deleteFrom('assembly_maintenance')
      .using(['assemblies', 'deployables'])
      .whereRef('assemblies.id', '=', 'assembly_maintenance.assembly_id')
      .whereRef('deployables.id', '=', 'assembly_maintenance.deployable_id')
      .where('assembly_maintenance.until', '<=', now)
      .returning(['assembly_maintenance.deployable_id', 'deployables.name as deployable', 'assembly_maintenance.assembly_id', 'assemblies.name as assembly'])
      .execute();
  },
};
