/**
 * Turns what the detector and the clouds conclude into domain events, and makes sure each
 * conclusion becomes at most one event across every replica, and that none is lost when the
 * replica that should have spoken dies:
 * - every replica judges every assembly (each sees every heartbeat), but only the holder of the
 *   deployable's shard lease speaks; the others keep what they concluded for a while, so whoever
 *   takes the shard over emits what its dead holder had not;
 * - an event is written together with its observation's key (`verdicts`, primary key) under the
 *   shard lease (`guardLease`), in the outbox transaction: a key already written — by this
 *   replica before a crash, or by the former holder — is skipped, and a holder whose lease was
 *   taken over cannot write at all.
 */
import { randomUUID } from 'node:crypto';
import { createDomainEvent, sameAddresses, type Address, type DomainEvent, type EventType } from '@defib/contracts';
import { guardLease, LeaseLost, retryWhileDatabaseUnavailable, type Clock, type Logger, type Outbox } from '@defib/platform';
import type { Kysely } from 'kysely';
import { classify, describeSilence } from './failure-classification.ts';
import type { MonitorMetrics } from './monitor-metrics.ts';
import type { ShardLeases } from './shard-leases.ts';
import type { MonitorTables } from './tables.ts';
import type { AssemblyLiveness, CloudView, LivenessObservation, WatchSpec } from './watch.ts';

/** What the desk needs of the detector. */
export interface LivenessBook {
  liveness(assemblyId: string): AssemblyLiveness | undefined;
  /** The cloud says the VM failed: no silence verdict follows for it. */
  failed(assemblyId: string, instanceId: string): void;
  /** The cloud reports other addresses for a VM whose agent reports none. */
  setAddresses(assemblyId: string, instanceId: string, addresses: readonly Address[]): void;
}

export interface VerdictDeskOptions {
  db: Kysely<MonitorTables>;
  outbox: Outbox<MonitorTables>;
  shards: ShardLeases;
  liveness: LivenessBook;
  /** Latest known cloud view of a VM. */
  viewOf: (instanceId: string) => CloudView | undefined;
  /** The assembly a VM runs (current instance), if any. */
  assemblyOf: (instanceId: string) => string | undefined;
  /** A direct look at one VM through its cloud (bounded); undefined when the cloud could not say. */
  look: (cloud: string, instanceId: string) => Promise<CloudView | undefined>;
  clock: Clock;
  logger: Logger;
  metrics: MonitorMetrics;
  /** The replica's id: the subject of its own `monitor.*` events. */
  replicaId: string;
  /** How long a non-holder keeps what it concluded, in case it takes the shard over. */
  pendingTtlMs: number;
  /** A cloud view older than this is looked at again before a silence verdict. */
  freshViewMs: number;
}

/** A change of the replica's own health, as `monitor.degraded` / `monitor.recovered` say it. */
export type MonitorChange =
  | { readonly degraded: true; readonly cause: 'lagging' | 'cloud-unreachable'; readonly cloud?: string; readonly lagMs?: number; readonly detail: string }
  | { readonly degraded: false; readonly cause: 'lagging' | 'cloud-unreachable'; readonly cloud?: string; readonly degradedForMs: number };

interface Verdict {
  readonly key: string;
  readonly deployableId: string;
  readonly event: DomainEvent;
  readonly at: number;
}

const FLUSH_DELAY_MS = 5;
const RETRY_DELAY_MS = 1_000;

/** Whether the cloud says the VM is down or impaired: its silence is explained, and worth judging again until the heartbeats agree or dispute it. */
export function looksDown(view: CloudView): boolean {
  return view.state === 'stopped' || view.state === 'error' || view.state === 'terminated' || view.state === 'gone' || view.health?.instance === 'impaired' || view.health?.system === 'impaired';
}

function subjectOf(spec: WatchSpec) {
  return { deployableId: spec.deployableId, deployable: spec.deployable, assemblyId: spec.assemblyId, assembly: spec.assembly };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

const SILENCE_WORDS = {
  crashed: 'the VM crashed',
  'boot-failed': 'the VM failed to boot',
  hung: "the VM hung (the cloud's status checks say impaired)",
  'hung-or-partitioned': 'the VM hung or its agent is cut off (the cloud says it runs; from outside the two cannot be told apart)',
} as const;

export class VerdictDesk {
  readonly #options: VerdictDeskOptions;
  readonly #logger: Logger;
  /** Concluded while this replica does not hold the shard: kept for a takeover. */
  readonly #pending = new Map<string, Verdict>();
  /** To be written, in order. */
  #queue: Verdict[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  readonly #looks = new Set<Promise<void>>();
  /** VMs the cloud says are down or impaired, whose assemblies were not judged on it yet. */
  readonly #downViews = new Set<string>();
  #stopped = false;

  constructor(options: VerdictDeskOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'verdict-desk' });
  }

  start(): void {
    this.#pruneTimer = setInterval(() => this.#prunePending(), Math.max(1_000, Math.floor(this.#options.pendingTtlMs / 4)));
    this.#pruneTimer.unref();
  }

  /** Writes what is queued, then stops taking more. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#pruneTimer);
    clearTimeout(this.#flushTimer);
    await Promise.allSettled([...this.#looks]);
    await this.#flushing;
    await this.#flush();
  }

  /** Verdicts concluded but not yet written (queued, or kept for a takeover). */
  get backlog(): { queued: number; pending: number } {
    return { queued: this.#queue.length, pending: this.#pending.size };
  }

  /** One of the detector's observations. */
  observe(observation: LivenessObservation): void {
    const { spec } = observation;
    switch (observation.kind) {
      case 'running':
        this.#record(observation.key, spec.deployableId, 'assembly.running', {
          subject: subjectOf(spec),
          data: { instanceId: observation.instanceId, addresses: [...observation.addresses] },
          reason: `the first heartbeat ${observation.after === 'launch' ? 'since the VM was launched' : observation.after === 'reboot' ? 'since the VM rebooted' : observation.after === 'restart' ? 'since the monitor restarted' : 'after the silence'} arrived`,
        });
        return;
      case 'unresponsive':
        this.#silence(observation);
        return;
      case 'resource-failed': {
        const resource = spec.resources.find((candidate) => candidate.name === observation.resource);
        if (resource === undefined) return;
        this.#record(observation.key, spec.deployableId, 'resource.failed', {
          subject: { ...subjectOf(spec), resourceId: resource.id, resource: resource.name },
          data: { state: observation.state, ...(observation.detail === undefined ? {} : { detail: observation.detail }) },
          reason: `the agent reports ${resource.name} ${observation.state}${observation.detail === undefined ? '' : `: ${observation.detail}`}`.slice(0, 2048),
        });
        return;
      }
      case 'resource-running': {
        const resource = spec.resources.find((candidate) => candidate.name === observation.resource);
        if (resource === undefined) return;
        this.#record(observation.key, spec.deployableId, 'resource.running', {
          subject: { ...subjectOf(spec), resourceId: resource.id, resource: resource.name },
          data: {},
          reason: `the agent reports ${resource.name} running again`,
        });
        return;
      }
      case 'address-changed':
        this.#record(observation.key, spec.deployableId, 'assembly.address-changed', {
          subject: subjectOf(spec),
          data: { instanceId: observation.instanceId, previous: [...observation.previous], current: [...observation.current] },
          reason: `the agent reports ${observation.current.map((address) => address.address).join(', ') || 'no address'} (was ${observation.previous.map((address) => address.address).join(', ') || 'none'})`,
        });
        return;
      case 'stale-instance': {
        this.#options.metrics.staleHeartbeat();
        const view = this.#options.viewOf(observation.instanceId);
        this.#logger.warn({ assemblyId: spec.assemblyId, instanceId: observation.instanceId, current: observation.currentInstanceId }, 'heartbeats from a VM that is not the assembly’s current one');
        this.#record(observation.key, spec.deployableId, 'assembly.state-disputed', {
          subject: subjectOf(spec),
          data: { instanceId: observation.instanceId, cloudStatus: view?.cloudStatus ?? 'replaced', lastHeartbeatAt: new Date(this.#options.clock.now()).toISOString() },
          reason: `heartbeats arrive from ${observation.instanceId}, which is not the assembly's current VM (${observation.currentInstanceId ?? 'none'}): an old VM came back, or a copy runs its agent; they are not taken as liveness`,
        });
        return;
      }
    }
  }

  /** A cloud view that changed: a crash, a hang the cloud sees, or a VM that beats while the cloud says it is down. */
  cloudView(view: CloudView): void {
    if (this.#judgeView(view) || !looksDown(view)) this.#downViews.delete(view.instanceId);
    else this.#downViews.add(view.instanceId);
  }

  /**
   * Judges again the VMs the cloud says are down or impaired while their heartbeats have not
   * told yet (a crash seen by the cloud before the first beat was late; a VM that keeps beating
   * after the cloud said it stopped). Cheap; the service calls it on every census.
   */
  recheck(): void {
    for (const instanceId of this.#downViews) {
      const view = this.#options.viewOf(instanceId);
      if (view === undefined || !looksDown(view) || this.#judgeView(view)) this.#downViews.delete(instanceId);
    }
  }

  /** Acts on what the view says of its VM's assembly; true when there is nothing more to wait for. */
  #judgeView(view: CloudView): boolean {
    const { liveness: book, assemblyOf } = this.#options;
    const assemblyId = assemblyOf(view.instanceId);
    if (assemblyId === undefined) return true;
    const liveness = book.liveness(assemblyId);
    if (liveness === undefined || liveness.instanceId !== view.instanceId) return true;
    const verdict = classify(liveness, view, this.#options.clock.now());
    const episode = `${assemblyId}:${view.instanceId}:${liveness.bootId ?? 'none'}`;
    switch (verdict.kind) {
      case 'none':
        break;
      case 'failed':
        book.failed(assemblyId, view.instanceId);
        this.#failed(`failed:${episode}:${view.state}`, liveness, view.instanceId, verdict.failure, verdict.cloudStatus);
        return true;
      case 'disputed':
        this.#record(`disputed:${episode}:${view.state}`, liveness.spec.deployableId, 'assembly.state-disputed', {
          subject: subjectOf(liveness.spec),
          data: { instanceId: view.instanceId, cloudStatus: verdict.cloudStatus, lastHeartbeatAt: new Date(liveness.lastBeatAt ?? this.#options.clock.now()).toISOString() },
          reason: `heartbeats arrive while the cloud says the VM is ${verdict.cloudStatus}: not declared failed; a person should look`,
        });
        return true;
    }
    // Addresses from the cloud count only where the agent reports none of its own (heartbeats are
    // fresher, and a cloud listing may lack what the guest sees: two sources would flip-flop).
    if (liveness.instanceId === view.instanceId && view.addresses.length > 0 && liveness.lastBeatAt === undefined && !sameAddresses(liveness.addresses, view.addresses)) {
      const current = [...view.addresses];
      if (liveness.addresses.length > 0) {
        const fingerprint = current.map((address) => `${address.type}|${address.address}`).sort().join(',');
        this.#record(`address:${episode}:cloud:${fingerprint}`, liveness.spec.deployableId, 'assembly.address-changed', {
          subject: subjectOf(liveness.spec),
          data: { instanceId: view.instanceId, previous: [...liveness.addresses], current },
          reason: `the cloud reports ${current.map((address) => address.address).join(', ')} (was ${liveness.addresses.map((address) => address.address).join(', ')})`,
        });
      }
      book.setAddresses(assemblyId, view.instanceId, current);
    }
    return false;
  }

  /** The replica's own health changed: it lags or caught up, or a cloud's API stopped or started answering. */
  monitorChanged(change: MonitorChange): void {
    const subject = { monitor: this.#options.replicaId, ...(change.cloud === undefined ? {} : { cloud: change.cloud }) };
    const what = change.cause === 'lagging' ? 'silence verdicts are held until it catches up' : "the cloud's VMs are judged by their heartbeats alone meanwhile";
    const event = change.degraded
      ? createDomainEvent('monitor.degraded', {
          subject,
          data: { cause: change.cause, ...(change.lagMs === undefined ? {} : { lagMs: Math.max(0, Math.round(change.lagMs)) }), detail: change.detail.slice(0, 1024) },
          correlationId: randomUUID(),
          reason: `${change.detail}; ${what}`.slice(0, 2048),
        })
      : createDomainEvent('monitor.recovered', {
          subject,
          data: { cause: change.cause, degradedForMs: Math.max(0, Math.round(change.degradedForMs)) },
          correlationId: randomUUID(),
          reason: change.cause === 'lagging' ? 'the monitor keeps up with heartbeats again' : `the API of cloud ${change.cloud ?? ''} answers again`,
        });
    this.#options.metrics.emitted(event.type);
    // Its own health is not a deployable's verdict: no lease, written at once (and retried while the database is away).
    const { db, outbox } = this.#options;
    this.#track(
      retryWhileDatabaseUnavailable(() => db.transaction().execute((trx) => outbox.enqueue(trx, [event])), { logger: this.#logger, what: event.type, shouldContinue: () => !this.#stopped }).catch(
        (error: unknown) => this.#logger.error({ err: error, type: event.type }, 'could not record the monitor’s own state change'),
      ),
    );
  }

  /** This replica took `shard` over: what it concluded for it meanwhile is written now, unless the former holder did. */
  acquired(shard: number): void {
    const { shards } = this.#options;
    for (const [key, verdict] of this.#pending) {
      if (shards.shardOf(verdict.deployableId) !== shard) continue;
      this.#pending.delete(key);
      this.#queue.push(verdict);
    }
    this.#scheduleFlush(0);
  }

  #silence(observation: Extract<LivenessObservation, { kind: 'unresponsive' }>): void {
    const { spec, instanceId } = observation;
    const { viewOf, look, shards, clock, freshViewMs } = this.#options;
    const view = instanceId === undefined ? undefined : viewOf(instanceId);
    const fresh = view !== undefined && clock.now() - view.observedAt <= freshViewMs;
    // Only the replica that speaks asks the cloud, and only about a VM the cloud watch has seen (a
    // cloud that was never listed, or not registered, would only delay the verdict); the others
    // judge on what they know.
    if (instanceId === undefined || view === undefined || fresh || !shards.holds(spec.deployableId)) {
      this.#judgeSilence(observation, view);
      return;
    }
    this.#track(
      look(spec.cloud, instanceId)
        .catch(() => undefined)
        .then((looked) => this.#judgeSilence(observation, looked ?? view)),
    );
  }

  #judgeSilence(observation: Extract<LivenessObservation, { kind: 'unresponsive' }>, view: CloudView | undefined): void {
    const { spec, instanceId } = observation;
    this.#options.metrics.detected(observation.silentForMs - spec.missed * spec.intervalMs);
    const { failure, cloudStatus } = describeSilence(view, observation.neverBeat);
    const words = `no heartbeat for ${seconds(observation.silentForMs)} (${spec.missed} missed at ${seconds(spec.intervalMs)})`;
    if (instanceId !== undefined && cloudStatus !== undefined && (failure === 'crashed' || failure === 'boot-failed' || failure === 'hung')) {
      this.#options.liveness.failed(spec.assemblyId, instanceId);
      const liveness = this.#options.liveness.liveness(spec.assemblyId);
      if (liveness !== undefined) this.#failed(observation.key, liveness, instanceId, failure, cloudStatus, words);
      return;
    }
    this.#record(observation.key, spec.deployableId, 'assembly.unresponsive', {
      subject: subjectOf(spec),
      data: {
        ...(instanceId === undefined ? {} : { instanceId }),
        ...(observation.lastBeatAt === undefined ? {} : { lastHeartbeatAt: new Date(observation.lastBeatAt).toISOString() }),
        silentForMs: Math.max(0, Math.round(observation.silentForMs)),
        missed: Math.max(1, observation.missed),
        ...(failure === undefined ? {} : { failure }),
        ...(cloudStatus === undefined ? {} : { cloudStatus }),
      },
      reason: `${words}${observation.neverBeat ? ' since the VM was launched' : ''}; ${failure === undefined ? 'the cloud could not be asked' : `the cloud says ${cloudStatus}: ${SILENCE_WORDS[failure]}`}`,
    });
  }

  #failed(key: string, liveness: AssemblyLiveness, instanceId: string, failure: keyof typeof SILENCE_WORDS, cloudStatus: string, prefix?: string): void {
    this.#record(key, liveness.spec.deployableId, 'assembly.failed', {
      subject: subjectOf(liveness.spec),
      data: { instanceId, cloudStatus, failure },
      reason: `${prefix === undefined ? '' : `${prefix}; `}the cloud says ${cloudStatus}: ${SILENCE_WORDS[failure]}`,
    });
  }

  #record<T extends EventType>(key: string, deployableId: string, type: T, init: Omit<Parameters<typeof createDomainEvent<T>>[1], 'correlationId'>): void {
    if (this.#stopped) return;
    let event: DomainEvent;
    try {
      event = createDomainEvent(type, { ...init, correlationId: randomUUID(), occurredAt: new Date(this.#options.clock.now()) }) as DomainEvent;
    } catch (error) {
      // A verdict that does not fit the catalogue is a bug here, not the VM's problem: say so and go on.
      this.#logger.error({ err: error, type, key }, 'could not build an event from an observation');
      return;
    }
    const verdict: Verdict = { key, deployableId, event, at: this.#options.clock.now() };
    if (this.#options.shards.holds(deployableId)) {
      this.#queue.push(verdict);
      this.#scheduleFlush(FLUSH_DELAY_MS);
    } else {
      this.#pending.set(key, verdict);
    }
  }

  #track(work: Promise<void>): void {
    this.#looks.add(work);
    void work.finally(() => this.#looks.delete(work));
  }

  #scheduleFlush(delayMs: number): void {
    if (this.#flushTimer !== undefined || this.#queue.length === 0) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      if (this.#flushing !== undefined) {
        this.#scheduleFlush(FLUSH_DELAY_MS);
        return;
      }
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
      });
    }, delayMs);
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const { shards, db, outbox, metrics } = this.#options;
    const byShard = new Map<number, Verdict[]>();
    for (const verdict of batch) {
      const shard = shards.shardOf(verdict.deployableId);
      const list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, [verdict]);
      else list.push(verdict);
    }
    let retry = false;
    for (const [shard, verdicts] of byShard) {
      const lease = verdicts[0] === undefined ? undefined : shards.leaseFor(verdicts[0].deployableId);
      if (lease === undefined) {
        for (const verdict of verdicts) this.#pending.set(verdict.key, verdict);
        continue;
      }
      try {
        const written = await db.transaction().execute(async (trx) => {
          await guardLease(trx, lease);
          const rows = await trx
            .insertInto('verdicts')
            .values(verdicts.map((verdict) => ({ key: verdict.key, event_id: verdict.event.id, type: verdict.event.type, deployable_id: verdict.deployableId, holder: lease.holder })))
            .onConflict((c) => c.column('key').doNothing())
            .returning('key')
            .execute();
          const fresh = new Set(rows.map((row) => row.key));
          const events = verdicts.filter((verdict) => fresh.has(verdict.key)).map((verdict) => verdict.event);
          await outbox.enqueue(trx, events);
          return events;
        });
        for (const event of written) metrics.emitted(event.type);
      } catch (error) {
        if (error instanceof LeaseLost) {
          this.#logger.warn({ shard, holder: error.current?.holder }, 'the shard was taken over; its verdicts are left to the new holder');
          shards.lost(shard);
          for (const verdict of verdicts) this.#pending.set(verdict.key, verdict);
          continue;
        }
        this.#logger.warn({ err: error, shard, verdicts: verdicts.length }, 'could not write verdicts; trying again');
        this.#queue.push(...verdicts);
        retry = true;
      }
    }
    if (retry && !this.#stopped) this.#scheduleFlush(RETRY_DELAY_MS);
  }

  #prunePending(): void {
    const oldest = this.#options.clock.now() - this.#options.pendingTtlMs;
    for (const [key, verdict] of this.#pending) if (verdict.at < oldest) this.#pending.delete(key);
  }
}
