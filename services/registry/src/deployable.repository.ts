/** Stored deployables with the stable ids of their assemblies and resources. */
import type { AssemblyRow, DeployableRow, DeployableUpdate, NewDeployable, ResourceRow } from './tables.ts';
import type { Executor } from './cloud.repository.ts';

export interface DeployableRecord extends DeployableRow {
  assemblies: (AssemblyRow & { resources: ResourceRow[] })[];
}

/** Assembly and resource names as the manifest lists them. */
export interface Structure {
  assemblies: { name: string; resources: string[] }[];
}

export interface ListQuery {
  cloud?: string | undefined;
  /** Names strictly after this one (keyset pagination). */
  after?: string | undefined;
  limit: number;
}

export const deployableRepository = {
  findByName(db: Executor, name: string, options: { forUpdate?: boolean } = {}): Promise<DeployableRow | undefined> {
    const query = db.selectFrom('deployables').selectAll().where('name', '=', name);
    return (options.forUpdate === true ? query.forUpdate() : query).executeTakeFirst();
  },

  async withStructure(db: Executor, deployable: DeployableRow): Promise<DeployableRecord> {
    const assemblies = await db.selectFrom('assemblies').selectAll().where('deployable_id', '=', deployable.id).execute();
    const resources =
      assemblies.length === 0
        ? []
        : await db
            .selectFrom('resources')
            .selectAll()
            .where(
              'assembly_id',
              'in',
              assemblies.map((assembly) => assembly.id),
            )
            .execute();
    return {
      ...deployable,
      assemblies: assemblies.map((assembly) => ({ ...assembly, resources: resources.filter((resource) => resource.assembly_id === assembly.id) })),
    };
  },

  async insert(db: Executor, deployable: NewDeployable): Promise<DeployableRow> {
    return db.insertInto('deployables').values(deployable).returningAll().executeTakeFirstOrThrow();
  },

  async update(db: Executor, id: string, changes: DeployableUpdate): Promise<DeployableRow> {
    return db.updateTable('deployables').set(changes).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
  },

  async remove(db: Executor, id: string): Promise<void> {
    await db.deleteFrom('deployables').where('id', '=', id).execute();
  },

  /**
   * Makes the stored assemblies and resources match `structure`, keeping the ids of those whose
   * names persist (monitor and recovery know them by id) and minting ids for new ones.
   */
  async syncStructure(db: Executor, deployableId: string, structure: Structure, newId: () => string): Promise<void> {
    const existing = await db.selectFrom('assemblies').selectAll().where('deployable_id', '=', deployableId).execute();
    const wanted = new Set(structure.assemblies.map((assembly) => assembly.name));
    const gone = existing.filter((assembly) => !wanted.has(assembly.name)).map((assembly) => assembly.id);
    if (gone.length > 0) await db.deleteFrom('assemblies').where('id', 'in', gone).execute();
    for (const assembly of structure.assemblies) {
      let assemblyId = existing.find((row) => row.name === assembly.name)?.id;
      if (assemblyId === undefined) {
        assemblyId = newId();
        await db.insertInto('assemblies').values({ id: assemblyId, deployable_id: deployableId, name: assembly.name }).execute();
      }
      const resources = await db.selectFrom('resources').selectAll().where('assembly_id', '=', assemblyId).execute();
      const wantedResources = new Set(assembly.resources);
      const goneResources = resources.filter((resource) => !wantedResources.has(resource.name)).map((resource) => resource.id);
      if (goneResources.length > 0) await db.deleteFrom('resources').where('id', 'in', goneResources).execute();
      const fresh = assembly.resources.filter((name) => !resources.some((resource) => resource.name === name));
      if (fresh.length > 0) {
        await db
          .insertInto('resources')
          .values(fresh.map((name) => ({ id: newId(), assembly_id: assemblyId, name })))
          .execute();
      }
    }
  },

  list(db: Executor, query: ListQuery): Promise<DeployableRow[]> {
    let select = db.selectFrom('deployables').selectAll().orderBy('name').limit(query.limit);
    if (query.cloud !== undefined) select = select.where('cloud', '=', query.cloud);
    if (query.after !== undefined) select = select.where('name', '>', query.after);
    return select.execute();
  },
};
