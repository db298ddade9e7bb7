/**
 * How replicas split the work: every deployable belongs to one of `shards` shards (a hash of its
 * id), and each shard is a platform lease. A replica takes free shards up to its fair share
 * (shards ÷ live replicas, rounded up), renews what it holds every quarter of the lease, and gives
 * back what exceeds its share when another replica joins. A replica that dies stops renewing: its
 * shards expire within one lease and the others take them at their next round.
 *
 * Shards rather than a lease per deployable: renewal costs a query per shard, not per deployable,
 * so ten thousand assemblies cost the database the same few queries a second as ten. Every
 * replica still sees every heartbeat (each has its own queue), so whoever takes a shard over
 * starts warm.
 */
import { LeaseLost, type Lease, type LeaseClient, type Logger } from '@defib/platform';
import { sql, type Kysely } from 'kysely';
import type { MonitorTables } from './tables.ts';

const SHARD_PREFIX = 'monitor-shard:';
const REPLICA_PREFIX = 'monitor-replica:';

/** The shard a deployable belongs to: FNV-1a of its id, so every replica agrees without asking. */
export function shardOf(deployableId: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < deployableId.length; index++) {
    hash ^= deployableId.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

export interface ShardLeasesOptions {
  db: Kysely<MonitorTables>;
  leases: LeaseClient;
  shards: number;
  leaseMs: number;
  logger: Logger;
  /** A shard was taken (first time or over from another replica): verdicts it missed may be emitted now. */
  onAcquired: (shard: number) => void;
  /** A shard was lost or given back. */
  onReleased?: (shard: number) => void;
}

export class ShardLeases {
  readonly shards: number;
  readonly #options: ShardLeasesOptions;
  readonly #logger: Logger;
  readonly #held = new Map<number, Lease>();
  #membership: Lease | undefined;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;

  constructor(options: ShardLeasesOptions) {
    this.#options = options;
    this.shards = options.shards;
    this.#logger = options.logger.child({ component: 'shard-leases' });
  }

  get holder(): string {
    return this.#options.leases.holder;
  }

  shardOf(deployableId: string): number {
    return shardOf(deployableId, this.shards);
  }

  /** The lease under which this replica may speak for the deployable now, if it holds it and it has not run out. */
  leaseFor(deployableId: string, now = Date.now()): Lease | undefined {
    const lease = this.#held.get(this.shardOf(deployableId));
    return lease !== undefined && lease.actUntil > now ? lease : undefined;
  }

  holds(deployableId: string, now = Date.now()): boolean {
    return this.leaseFor(deployableId, now) !== undefined;
  }

  heldShards(): number[] {
    return [...this.#held.keys()].sort((a, b) => a - b);
  }

  /** A write under `lease` was refused: the shard is gone. */
  lost(shard: number): void {
    if (this.#held.delete(shard)) this.#options.onReleased?.(shard);
  }

  /** Who watches the deployable's shard now, as the database says. */
  async watcherOf(deployableId: string): Promise<string | undefined> {
    return (await this.#options.leases.holding(`${SHARD_PREFIX}${this.shardOf(deployableId)}`))?.holder;
  }

  /** Takes the first share of shards before the service starts judging. */
  async start(): Promise<void> {
    await this.#balance();
    this.#timer = setInterval(() => {
      this.#round ??= this.#balance()
        .catch((error: unknown) => this.#logger.warn({ err: error }, 'could not renew or take shard leases; trying again'))
        .finally(() => {
          this.#round = undefined;
        });
    }, Math.max(250, Math.floor(this.#options.leaseMs / 4)));
    this.#timer.unref();
  }

  /** Gives every shard back at once, so another replica takes over without waiting for expiry. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#round;
    const { leases } = this.#options;
    for (const [shard, lease] of [...this.#held]) {
      this.#held.delete(shard);
      await leases.release(lease).catch(() => false);
    }
    if (this.#membership !== undefined) await leases.release(this.#membership).catch(() => false);
  }

  async #balance(): Promise<void> {
    if (this.#stopped) return;
    const { leases, db, shards } = this.#options;
    this.#membership = await leases.acquire(`${REPLICA_PREFIX}${leases.holder}`);
    const live = await db
      .selectFrom('leases')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('name', 'like', `${REPLICA_PREFIX}%`)
      .where('expires_at', '>', sql<Date>`clock_timestamp()`)
      .executeTakeFirstOrThrow();
    const fairShare = Math.ceil(shards / Math.max(1, Number(live.count)));
    for (const [shard, lease] of [...this.#held]) {
      try {
        this.#held.set(shard, await leases.renew(lease));
      } catch (error) {
        if (!(error instanceof LeaseLost)) throw error;
        this.#logger.warn({ shard, holder: error.current?.holder }, 'lost a shard lease');
        this.lost(shard);
      }
    }
    // Too many (another replica joined): give back the surplus so it gets work.
    for (const shard of this.heldShards().reverse()) {
      if (this.#held.size <= fairShare) break;
      const lease = this.#held.get(shard);
      this.#held.delete(shard);
      if (lease !== undefined) await leases.release(lease);
      this.#options.onReleased?.(shard);
    }
    if (this.#held.size >= fairShare) return;
    // Start the search at a place of our own, so replicas do not all race for shard 0 first.
    const start = shardOf(leases.holder, shards);
    for (let offset = 0; offset < shards && this.#held.size < fairShare; offset++) {
      const shard = (start + offset) % shards;
      if (this.#held.has(shard)) continue;
      const lease = await leases.acquire(`${SHARD_PREFIX}${shard}`);
      if (lease === undefined) continue;
      this.#held.set(shard, lease);
      this.#logger.info({ shard, epoch: lease.epoch }, 'took a shard');
      this.#options.onAcquired(shard);
    }
  }
}
