/**
 * Leases: which replica acts on what (an assembly, a cloud's poller, …). A lease is a row in the
 * service's own schema, held by one holder until it expires; every time time is compared it is
 * PostgreSQL's (`clock_timestamp()`), so replicas on machines whose clocks disagree still agree on
 * who holds what.
 *
 * Every new holder gets a higher **fencing epoch**. Holding a lease is not enough to write: a
 * holder that stalled (GC pause, partition, a slow cloud call) may still believe it holds a lease
 * that expired and was taken over. So each write made on a lease's authority goes through
 * {@link guardLease} in the writing transaction, which locks the lease row and refuses the write
 * with {@link LeaseLost} unless this holder, at this epoch, still holds it — the stale holder is
 * stopped by the epoch, not by luck. The row lock also makes a takeover wait for a guarded
 * transaction in flight, so the old holder's last write and the new holder's first never overlap.
 *
 * Expiry is passive: a lease its holder did not renew within its time to live is simply free for
 * the next `acquire`; nothing sweeps it. A released lease is one made to expire now.
 *
 * After a reconnect (to the database or the broker) a holder needs no separate re-validation
 * step: its next guarded write re-checks holder and epoch, and its next renewal fails with
 * {@link LeaseLost} if someone else took over meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sql, type ColumnType, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import type { Migrations } from './database.ts';

export interface LeaseTable {
  name: string;
  holder: string;
  /** int8: pg returns it as a string. */
  epoch: ColumnType<string, string, string>;
  acquired_at: ColumnType<Date, Date, Date>;
  expires_at: ColumnType<Date, Date, Date>;
}

/** The table {@link leaseMigrations} creates in a service's schema. */
export interface LeaseTables {
  leases: LeaseTable;
}

/** Creates the `leases` table; part of the platform migrations every service merges. */
export const leaseMigrations: Migrations = {
  '2026-12-01T1900-platform-leases': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (column) => column.primaryKey())
        .addColumn('holder', 'text', (column) => column.notNull())
        .addColumn('epoch', 'bigint', (column) => column.notNull())
        .addColumn('acquired_at', 'timestamptz', (column) => column.notNull())
        .addColumn('expires_at', 'timestamptz', (column) => column.notNull())
        .execute();
    },
  },
};

/** A lease as its holder knows it. */
export interface Lease {
  /** What the lease is for, e.g. `assembly:<id>`. */
  readonly name: string;
  readonly holder: string;
  /** Higher for every new holder of this lease; a write is only valid under the current one. */
  readonly epoch: number;
  /** When it expires, on the database's clock. */
  readonly expiresAt: Date;
  /**
   * When the holder must stop acting on it, on the holder's own clock: the lease's time to live
   * counted from before the request was sent, so never later than the database's expiry.
   */
  readonly actUntil: number;
}

/** Who holds a lease now, as anyone may read it. */
export interface LeaseHolding {
  readonly name: string;
  readonly holder: string;
  readonly epoch: number;
  readonly expiresAt: Date;
}

/** Why a lease no longer authorises its holder: it expired, was released, or another holder took it. */
export class LeaseLost extends Error {
  readonly lease: Pick<Lease, 'name' | 'holder' | 'epoch'>;
  /** Who holds it now, when someone does. */
  readonly current: Pick<LeaseHolding, 'holder' | 'epoch'> | undefined;

  constructor(lease: Pick<Lease, 'name' | 'holder' | 'epoch'>, current: Pick<LeaseHolding, 'holder' | 'epoch'> | undefined, why: string) {
    super(`lease ${lease.name} (epoch ${lease.epoch}) is no longer held by ${lease.holder}: ${why}`);
    this.name = 'LeaseLost';
    this.lease = { name: lease.name, holder: lease.holder, epoch: lease.epoch };
    this.current = current;
  }
}

export interface LeaseClientOptions<DB> {
  /** The service's database; the lease table lives in its schema. */
  db: Kysely<DB>;
  /** Names this process; unique per process by default ({@link uniqueHolderId}). */
  holder?: string;
  /** How long a lease lasts unless renewed. */
  ttlMs: number;
  /** The holder's clock, for {@link Lease.actUntil}; `Date.now` by default. */
  clock?: { now(): number };
}

/** Acquires, renews and releases leases for one holder. */
export interface LeaseClient {
  readonly holder: string;
  /**
   * Takes the lease when it is free, expired or released, with the next epoch; extends it (same
   * epoch) when this holder still holds it. Undefined when another holder has it.
   */
  acquire(name: string): Promise<Lease | undefined>;
  /** Extends a held lease by the time to live; throws {@link LeaseLost} when it is no longer held. */
  renew(lease: Lease): Promise<Lease>;
  /** Gives the lease up at once so another holder can take it; false when it was no longer held. */
  release(lease: Lease): Promise<boolean>;
  /** Who holds the lease now; undefined when it is free (never taken, expired or released). */
  holding(name: string): Promise<LeaseHolding | undefined>;
}

/** `host/pid/random`: tells replicas apart in leases and logs, and a restarted process from its former self. */
export function uniqueHolderId(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

const NOW = sql<Date>`clock_timestamp()`;
const LEASE_COLUMNS = ['name', 'holder', 'epoch', 'expires_at'] as const;

/** Rows of `lease` still held by its holder at its epoch. */
function stillHeld(lease: Pick<Lease, 'name' | 'holder' | 'epoch'>) {
  return (eb: ExpressionBuilder<LeaseTables, 'leases'>) =>
    eb.and([eb('name', '=', lease.name), eb('holder', '=', lease.holder), eb('epoch', '=', String(lease.epoch)), eb('expires_at', '>', NOW)]);
}

function leasesOf<DB>(db: Kysely<DB> | Transaction<DB>): Kysely<LeaseTables> {
  return db as unknown as Kysely<LeaseTables>;
}

export function createLeaseClient<DB>(options: LeaseClientOptions<DB>): LeaseClient {
  const db = leasesOf(options.db);
  const holder = options.holder ?? uniqueHolderId();
  const clock = options.clock ?? { now: () => Date.now() };
  const { ttlMs } = options;
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new RangeError('ttlMs must be a positive whole number of milliseconds');
  const expiry = sql<Date>`clock_timestamp() + ${ttlMs} * interval '1 millisecond'`;

  const toLease = (row: { name: string; holder: string; epoch: string; expires_at: Date }, sentAt: number): Lease => ({
    name: row.name,
    holder: row.holder,
    epoch: Number(row.epoch),
    expiresAt: row.expires_at,
    actUntil: sentAt + ttlMs,
  });

  return {
    holder,

    async acquire(name) {
      const sentAt = clock.now();
      // The row is locked by the conflicting insert, so of two replicas racing for a free lease
      // exactly one sees the WHERE hold; the other sees the winner's row and gets nothing.
      const stillMine = sql<boolean>`leases.holder = excluded.holder and leases.expires_at > clock_timestamp()`;
      const row = await db
        .insertInto('leases')
        .values({ name, holder, epoch: '1', acquired_at: NOW, expires_at: expiry })
        .onConflict((conflict) =>
          conflict
            .column('name')
            .doUpdateSet({
              holder: (eb) => eb.ref('excluded.holder'),
              epoch: sql<string>`case when ${stillMine} then leases.epoch else leases.epoch + 1 end`,
              acquired_at: sql<Date>`case when ${stillMine} then leases.acquired_at else excluded.acquired_at end`,
              expires_at: (eb) => eb.ref('excluded.expires_at'),
            })
            .where((eb) => eb.or([eb('leases.expires_at', '<=', NOW), eb('leases.holder', '=', eb.ref('excluded.holder'))])),
        )
        .returning(LEASE_COLUMNS)
        .executeTakeFirst();
      return row === undefined ? undefined : toLease(row, sentAt);
    },

    async renew(lease) {
      const sentAt = clock.now();
      const row = await db
        .updateTable('leases')
        .set({ expires_at: expiry })
        .where(stillHeld(lease))
        .returning(LEASE_COLUMNS)
        .executeTakeFirst();
      if (row !== undefined) return toLease(row, sentAt);
      const current = await this.holding(lease.name);
      throw new LeaseLost(lease, current, current === undefined ? 'it expired or was released' : 'another holder took it over');
    },

    async release(lease) {
      const result = await db
        .updateTable('leases')
        .set({ expires_at: NOW })
        .where(stillHeld(lease))
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async holding(name) {
      const row = await db
        .selectFrom('leases')
        .select(LEASE_COLUMNS)
        .where('name', '=', name)
        .where('expires_at', '>', NOW)
        .executeTakeFirst();
      return row === undefined ? undefined : { name: row.name, holder: row.holder, epoch: Number(row.epoch), expiresAt: row.expires_at };
    },
  };
}

/**
 * Lets a write go ahead only under a lease still held at its epoch: locks the lease row for the
 * rest of `trx` (a takeover waits until `trx` ends) and throws {@link LeaseLost} — rolling the
 * transaction back — when the lease expired, was released or has a newer holder. Call it in the
 * transaction that writes, before or after the writes but before committing.
 */
export async function guardLease<DB>(trx: Transaction<DB>, lease: Pick<Lease, 'name' | 'holder' | 'epoch'>): Promise<void> {
  const row = await leasesOf(trx)
    .selectFrom('leases')
    .select(['holder', 'epoch', sql<boolean>`expires_at > clock_timestamp()`.as('live')])
    .where('name', '=', lease.name)
    .forShare()
    .executeTakeFirst();
  if (row === undefined) throw new LeaseLost(lease, undefined, 'it was never taken');
  const current = { holder: row.holder, epoch: Number(row.epoch) };
  if (current.holder !== lease.holder || current.epoch !== lease.epoch) throw new LeaseLost(lease, current, 'another holder took it over');
  if (!row.live) throw new LeaseLost(lease, undefined, 'it expired or was released');
}
