import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import { createIsolatedDatabase, waitFor, type IsolatedDatabase } from '../../../test/support/index.ts';
import { createDatabase, migrateToLatest, type Database } from '../src/database.ts';
import { createLeaseClient, guardLease, LeaseLost, type Lease, type LeaseTables } from '../src/lease.ts';
import { createLogger } from '../src/logger.ts';
import { platformMigrations } from '../src/outbox.ts';

const logger = createLogger({ service: 'platform-test', level: 'silent' });
const SCHEMA = 'lease_spec';

/** What a lease authorises in these tests: writing the latest word on an assembly. */
interface Tables extends LeaseTables {
  assembly_actions: { assembly: string; action: string; epoch: number };
}

describe('leases', () => {
  let isolatedDatabase: IsolatedDatabase;
  /** Two pools: two replicas, each with its own connections. */
  let first: Database<Tables>;
  let second: Database<Tables>;
  let counter = 0;

  const aName = () => `assembly:${++counter}`;

  function replica(database: Database<Tables>, holder: string, ttlMs: number) {
    return createLeaseClient({ db: database.db, holder, ttlMs });
  }

  /** Writes an action for an assembly, but only under the lease it names. */
  async function act(db: Kysely<Tables>, lease: Lease, action: string): Promise<void> {
    await db.transaction().execute(async (trx) => {
      await guardLease(trx, lease);
      await trx.insertInto('assembly_actions').values({ assembly: lease.name, action, epoch: lease.epoch }).execute();
    });
  }

  async function actionsOn(name: string): Promise<string[]> {
    const rows = await first.db.selectFrom('assembly_actions').select('action').where('assembly', '=', name).orderBy('action').execute();
    return rows.map((row) => row.action);
  }

  beforeAll(async () => {
    isolatedDatabase = await createIsolatedDatabase();
    first = createDatabase<Tables>({ url: isolatedDatabase.url, schema: SCHEMA, logger, poolSize: 8 });
    second = createDatabase<Tables>({ url: isolatedDatabase.url, schema: SCHEMA, logger, poolSize: 8 });
    await migrateToLatest(first, platformMigrations, logger);
    await first.db.schema
      .createTable('assembly_actions')
      .addColumn('assembly', 'text', (column) => column.notNull())
      .addColumn('action', 'text', (column) => column.notNull())
      .addColumn('epoch', 'integer', (column) => column.notNull())
      .execute();
  });

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await isolatedDatabase?.drop();
  });

  it('goes to the first replica that asks, at epoch 1, and not to a second one', async () => {
    const name = aName();
    const lease = await replica(first, 'a', 10_000).acquire(name);
    expect(lease).toMatchObject({ name, holder: 'a', epoch: 1 });
    expect(await replica(second, 'b', 10_000).acquire(name)).toBeUndefined();
    expect(await replica(second, 'b', 10_000).holding(name)).toMatchObject({ holder: 'a', epoch: 1 });
  });

  it('stays with its holder, same epoch, when the holder asks again', async () => {
    const name = aName();
    const a = replica(first, 'a', 10_000);
    const lease = await a.acquire(name);
    const again = await a.acquire(name);
    expect(again?.epoch).toBe(lease?.epoch);
    expect(again!.expiresAt.getTime()).toBeGreaterThanOrEqual(lease!.expiresAt.getTime());
  });

  it('is taken over after it expires, at the next epoch', async () => {
    const name = aName();
    const stale = await replica(first, 'a', 100).acquire(name);
    const b = replica(second, 'b', 10_000);
    const taken = await waitFor(() => b.acquire(name), { what: 'the expired lease to be taken over' });
    expect(taken).toMatchObject({ holder: 'b', epoch: stale!.epoch + 1 });
    await expect(replica(first, 'a', 100).renew(stale!)).rejects.toThrow(LeaseLost);
  });

  it('is kept by renewing it past its first expiry', async () => {
    const name = aName();
    const a = replica(first, 'a', 1_000);
    const b = replica(second, 'b', 1_000);
    let lease = (await a.acquire(name))!;
    const firstExpiry = lease.expiresAt;
    // Renew until the database clock is well past the first expiry; the lease never changes hands.
    await waitFor(
      async () => {
        lease = await a.renew(lease);
        expect(await b.acquire(name)).toBeUndefined();
        const { now } = await sql<{ now: Date }>`select clock_timestamp() as now`.execute(first.db).then((result) => result.rows[0]!);
        return now.getTime() > firstExpiry.getTime() + 1_000 ? true : undefined;
      },
      { intervalMs: 100, what: 'the database clock to pass the first expiry' },
    );
    expect(lease).toMatchObject({ holder: 'a', epoch: 1 });
    expect(await b.holding(name)).toMatchObject({ holder: 'a', epoch: 1 });
  });

  it('is free at once when released, and the next holder gets the next epoch', async () => {
    const name = aName();
    const a = replica(first, 'a', 10_000);
    const lease = (await a.acquire(name))!;
    expect(await a.release(lease)).toBe(true);
    expect(await a.release(lease)).toBe(false);
    expect(await a.holding(name)).toBeUndefined();
    await expect(act(first.db, lease, 'after-release')).rejects.toThrow(LeaseLost);
    expect(await replica(second, 'b', 10_000).acquire(name)).toMatchObject({ holder: 'b', epoch: 2 });
  });

  it('gives its own former holder a new epoch once it had expired', async () => {
    const name = aName();
    const a = replica(first, 'a', 50);
    const lease = (await a.acquire(name))!;
    await waitFor(async () => ((await a.holding(name)) === undefined ? true : undefined), { what: 'the lease to expire' });
    const again = (await replica(first, 'a', 10_000).acquire(name))!;
    expect(again.epoch).toBe(lease.epoch + 1);
    await expect(act(first.db, lease, 'old-epoch')).rejects.toThrow(LeaseLost);
    await act(first.db, again, 'new-epoch');
    expect(await actionsOn(name)).toEqual(['new-epoch']);
  });

  it("refuses a stalled holder's write once a new holder took over", async () => {
    const name = aName();
    const stalled = (await replica(first, 'a', 1_000).acquire(name))!;
    await act(first.db, stalled, 'reboot-by-a');
    // a stalls past its expiry; b takes over and acts.
    const b = replica(second, 'b', 10_000);
    const current = await waitFor(() => b.acquire(name), { what: 'the takeover' });
    await act(second.db, current, 'recreate-by-b');
    // a wakes up and tries to write on its old lease: refused by the epoch.
    const refusal = await act(first.db, stalled, 'hard-reboot-by-a').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(LeaseLost);
    expect((refusal as LeaseLost).current).toEqual({ holder: 'b', epoch: stalled.epoch + 1 });
    expect(await actionsOn(name)).toEqual(['reboot-by-a', 'recreate-by-b']);
  });

  it('makes a takeover wait for a guarded write in flight, so the two never overlap', async () => {
    const name = aName();
    const a = replica(first, 'a', 1_000);
    const lease = (await a.acquire(name))!;
    let takeover: Promise<Lease | undefined> | undefined;
    await first.db.transaction().execute(async (trx) => {
      await guardLease(trx, lease);
      // While a's transaction holds the guard, its lease expires and b tries to take it over.
      await waitFor(async () => ((await a.holding(name)) === undefined ? true : undefined), { what: 'the lease to expire' });
      let taken = false;
      takeover = replica(second, 'b', 10_000).acquire(name);
      void takeover.then(() => (taken = true));
      await waitFor(
        async () => {
          const { rows } = await sql<{ waiting: number }>`select count(*)::int as waiting from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(first.db);
          return rows[0]!.waiting > 0 ? true : undefined;
        },
        { what: "b's takeover to wait on a's lock" },
      );
      expect(taken).toBe(false);
      await trx.insertInto('assembly_actions').values({ assembly: name, action: 'last-by-a', epoch: lease.epoch }).execute();
    });
    expect(await takeover).toMatchObject({ holder: 'b', epoch: lease.epoch + 1 });
  });

  it('refuses a write under a lease that was never taken', async () => {
    await expect(act(first.db, { name: aName(), holder: 'a', epoch: 1, expiresAt: new Date(), actUntil: 0 }, 'x')).rejects.toThrow(/never taken/);
  });

  it('goes to exactly one of two replicas racing for 1,000 leases', async () => {
    const names = Array.from({ length: 1_000 }, (_, index) => `race:${index}`);
    const race = async (database: Database<Tables>, holder: string, order: string[]) => {
      const client = replica(database, holder, 60_000);
      const won: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < order.length) {
          const name = order[next++]!;
          if ((await client.acquire(name)) !== undefined) won.push(name);
        }
      };
      await Promise.all(Array.from({ length: 6 }, worker));
      return won;
    };
    const [byA, byB] = await Promise.all([race(first, 'a', names), race(second, 'b', names)]);
    expect(byA.length + byB.length).toBe(1_000);
    expect(new Set([...byA, ...byB]).size).toBe(1_000);
    const rows = await first.db.selectFrom('leases').select(['holder', 'epoch']).where('name', 'like', 'race:%').execute();
    expect(rows).toHaveLength(1_000);
    expect(rows.every((row) => row.epoch === '1')).toBe(true);
    expect(rows.filter((row) => row.holder === 'a')).toHaveLength(byA.length);
  });
});
