/**
 * Who works on which deployable, and how. A replica takes a deployable's lease
 * (`recovery-deployable:<id>`) when the deployable has work due and nobody else holds it; while it
 * holds it, a {@link DeployableKeeper} plans (the pure planner) and runs the tasks, several
 * assemblies at once, one task per assembly. The lease is renewed every quarter of its life and
 * every write checks it at its epoch, so a replica that stalled cannot act after another took
 * over. A keeper with nothing left to do gives the lease back.
 *
 * Work is found through `deployables.due_at`: the intake sets it to now when something happened
 * (and notifies), a keeper claims it when it plans, and keeps it a lease ahead while it works, so
 * a replica that dies leaves its deployables due for another one as soon as their leases expire.
 *
 * Isolation per deployable: a pass that throws (a bug, a poison manifest) marks that deployable
 * errored with a growing backoff and gives it up; no other deployable is touched.
 */
import { createDomainEvent } from '@defib/contracts';
import { jitteredDelay, LeaseLost, type Clock, type Lease, type LeaseClient, type Logger, type Outbox, type ScheduledTask } from '@defib/platform';
import { sql, type Kysely } from 'kysely';
import type { ActionSlots } from './action-slots.ts';
import type { RecoveryHands } from './hands.ts';
import { plan, taskKey, type DeployableSnapshot, type Task } from './planner.ts';
import { cancelIncidents, concludeRestart, launch, reconfigure, recover, resume, RetryLater, stop, type ActionContext } from './recovery-actions.ts';
import { StepJournal, subjectOf } from './step-journal.ts';
import type { RecoveryMetrics } from './recovery-metrics.ts';
import type { IncidentRow, RecoveryTables } from './tables.ts';

export function deployableLeaseName(deployableId: string): string {
  return `recovery-deployable:${deployableId}`;
}

export interface KeeperDeps {
  db: Kysely<RecoveryTables>;
  outbox: Outbox<RecoveryTables>;
  logger: Logger;
  clock: Clock;
  leases: LeaseClient;
  leaseMs: number;
  hands: RecoveryHands;
  slots: ActionSlots;
  agent: { brokerUrl: string; exchange: string; secret: Uint8Array };
  bootTimeoutMs: number;
  retry: { baseMs: number; maxMs: number };
  onAction?: (incident: IncidentRow | undefined) => void;
  metrics?: RecoveryMetrics;
}

/**
 * Reads everything the planner needs of one deployable, in one snapshot, and claims the wake-up
 * that brought the keeper here: the deployable stays due `claimForMs` ahead (a watchdog, should this
 * replica die), and anything the intake records from now on makes it due again.
 */
export async function loadSnapshot(db: Kysely<RecoveryTables>, deployableId: string, claimForMs: number): Promise<DeployableSnapshot | undefined> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const deployable = await trx
        .updateTable('deployables')
        .set({ due_at: sql<Date>`clock_timestamp() + ${claimForMs} * interval '1 millisecond'` as never })
        .where('id', '=', deployableId)
        .returningAll()
        .executeTakeFirst();
      if (deployable === undefined) return undefined;
      const [assemblies, incidents, unfinished, failedLaunches, reconfigurations] = [
        await trx.selectFrom('assemblies').selectAll().where('deployable_id', '=', deployableId).orderBy('name').execute(),
        await trx.selectFrom('incidents').selectAll().where('deployable_id', '=', deployableId).where('status', '<>', 'closed').execute(),
        await trx.selectFrom('steps').selectAll().where('deployable_id', '=', deployableId).where('state', 'in', ['intended', 'verifying']).orderBy('intended_at').execute(),
        await trx
          .selectFrom('steps')
          .selectAll()
          .where('deployable_id', '=', deployableId)
          .where('kind', '=', 'launch')
          .where('state', '=', 'failed')
          .where('intended_at', '>', sql<Date>`clock_timestamp() - interval '10 minutes'`)
          .orderBy('intended_at', 'desc')
          .limit(50)
          .execute(),
        await trx.selectFrom('reconfigurations').selectAll().where('deployable_id', '=', deployableId).execute(),
      ];
      return { deployable, assemblies, incidents, unfinished, failedLaunches, reconfigurations };
    });
}

export class DeployableKeeper {
  readonly deployableId: string;
  readonly #deps: KeeperDeps;
  readonly #onDone: (keeper: DeployableKeeper) => void;
  readonly #journal: StepJournal;
  readonly #running = new Map<string, { abort: AbortController; done: Promise<void>; task: Task }>();
  #lease: Lease;
  #passing: Promise<void> | undefined;
  #again = false;
  #wakeTimer: ScheduledTask | undefined;
  #wakeAt: number | undefined;
  #renewTimer: ScheduledTask | undefined;
  #closed = false;

  constructor(deps: KeeperDeps, lease: Lease, deployableId: string, onDone: (keeper: DeployableKeeper) => void) {
    this.#deps = deps;
    this.#lease = lease;
    this.deployableId = deployableId;
    this.#onDone = onDone;
    this.#journal = new StepJournal({ db: deps.db, outbox: deps.outbox, logger: deps.logger, lease: () => this.#lease, holding: () => !this.#closed, onFinished: deps.metrics?.stepFinished });
    this.#scheduleRenewal();
  }

  get busy(): boolean {
    return this.#running.size > 0;
  }

  /** Plans again soon (coalesced: one pass at a time, and one more if woken during it). */
  wake(): void {
    if (this.#closed) return;
    if (this.#passing !== undefined) {
      this.#again = true;
      return;
    }
    this.#passing = this.#pass()
      .catch((error: unknown) => this.#passFailed(error))
      .finally(() => {
        this.#passing = undefined;
        if (this.#again && !this.#closed) {
          this.#again = false;
          this.wake();
        }
      });
  }

  /** Whether it stopped (or is stopping): the scheduler starts a new keeper when work is due again. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Stops every task and gives the lease back (`release`), or just lets go (it was lost). A task is
   * given a lease's time to end after its abort: one stuck in a call that ignores the abort must not
   * keep the deployable from being worked on again (it can no longer write: the keeper is closed).
   */
  async close(release: boolean): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeTimer?.cancel();
    this.#renewTimer?.cancel();
    for (const { abort } of this.#running.values()) abort.abort(new Error('the keeper is closing'));
    let giveUp: ScheduledTask | undefined;
    const patience = new Promise<void>((resolve) => (giveUp = this.#deps.clock.schedule(this.#deps.leaseMs, resolve)));
    await Promise.race([Promise.allSettled([...this.#running.values()].map(({ done }) => done)).then(() => this.#passing), patience]);
    giveUp?.cancel();
    if (release) await this.#deps.leases.release(this.#lease).catch(() => false);
    this.#onDone(this);
  }

  #scheduleRenewal(): void {
    const { clock, leases, leaseMs, db, logger } = this.#deps;
    this.#renewTimer = clock.schedule(leaseMs / 4, () => {
      if (this.#closed) return;
      leases
        .renew(this.#lease)
        .then(async (lease) => {
          this.#lease = lease;
          // Keep the deployable due a lease ahead while working on it: if this replica dies, another finds it.
          await db.updateTable('deployables').set({ due_at: sql<Date>`greatest(due_at, clock_timestamp() + ${leaseMs} * interval '1 millisecond')` as never }).where('id', '=', this.deployableId).where('due_at', 'is not', null).execute();
          this.#scheduleRenewal();
        })
        .catch((error: unknown) => {
          if (error instanceof LeaseLost) {
            logger.warn({ deployable: this.deployableId }, 'lost the lease on a deployable: its work stops here');
            void this.close(false);
          } else {
            logger.warn({ err: error, deployable: this.deployableId }, 'could not renew a deployable lease; trying again');
            this.#scheduleRenewal();
          }
        });
    });
  }

  #retryDelay = (attempt: number): number => jitteredDelay(this.#deps.retry.baseMs, this.#deps.retry.maxMs, Math.max(0, attempt - 1));

  #wakeNoLaterThan(at: number): void {
    if (this.#wakeAt !== undefined && this.#wakeAt <= at && this.#wakeAt > this.#deps.clock.now()) return;
    this.#wakeTimer?.cancel();
    this.#wakeAt = at;
    this.#wakeTimer = this.#deps.clock.schedule(at - this.#deps.clock.now(), () => {
      this.#wakeAt = undefined;
      this.wake();
    });
  }

  async #pass(): Promise<void> {
    const { db, clock, leaseMs } = this.#deps;
    const snapshot = await loadSnapshot(db, this.deployableId, leaseMs);
    if (snapshot === undefined) {
      void this.close(true);
      return;
    }
    const { deployable } = snapshot;
    if (deployable.desired !== 'running') {
      // Nothing of a deployable that should not run is recovered: what runs for an incident stops.
      for (const { abort, task } of this.#running.values()) if (task.kind === 'recover' || (task.kind === 'resume' && task.step.incident_id !== null)) abort.abort(new Error('the deployable is being stopped'));
    }
    const busy = new Set(this.#running.keys());
    const decided = plan(snapshot, clock.now(), busy, { retryDelay: this.#retryDelay });
    const ctx = this.#context(deployable, snapshot.assemblies);
    await cancelIncidents(ctx, decided.cancel);
    // Tasks first: the first action of a recovery must not wait for the state's announcement.
    for (const task of decided.tasks) this.#start(task, deployable, snapshot.assemblies);
    if (decided.state !== deployable.state) {
      const from = deployable.state;
      const to = decided.state;
      await this.#journal.write(`recording ${deployable.name} as ${to}`, (trx) => trx.updateTable('deployables').set({ state: to, state_changed_at: new Date() }).where('id', '=', deployable.id).execute(), () => [
        createDomainEvent('deployable.state-changed', { subject: subjectOf(deployable), correlationId: deployable.id, reason: `${deployable.name} is ${to}`, data: { from, to } }),
      ]);
    }
    if (decided.wakeAt !== undefined) this.#wakeNoLaterThan(decided.wakeAt);
    if (decided.idle && this.#running.size === 0) {
      if (deployable.desired === 'deleted') await this.#forget(deployable.id);
      // Only our own claim is cleared: news recorded since (due now) stays due.
      await db.updateTable('deployables').set({ due_at: null, errors: 0 }).where('id', '=', this.deployableId).where('due_at', '>', sql<Date>`clock_timestamp()`).execute();
      void this.close(true);
    }
  }

  /** A deleted deployable's VMs are gone: its assemblies and pending work go, its incidents stay for the record. */
  async #forget(deployableId: string): Promise<void> {
    await this.#journal.write('forgetting a deleted deployable', async (trx) => {
      await trx.deleteFrom('reconfigurations').where('deployable_id', '=', deployableId).execute();
      await trx.deleteFrom('assemblies').where('deployable_id', '=', deployableId).execute();
    });
  }

  #context(deployable: DeployableSnapshot['deployable'], assemblies: DeployableSnapshot['assemblies'], signal: AbortSignal = new AbortController().signal): ActionContext {
    const { db, hands, slots, clock, logger, agent, bootTimeoutMs, onAction } = this.#deps;
    return { db, journal: this.#journal, hands, slots, clock, logger: logger.child({ deployable: deployable.name }), signal, agent, bootTimeoutMs, retryDelay: this.#retryDelay, deployable, assemblies, onAction };
  }

  #start(task: Task, deployable: DeployableSnapshot['deployable'], assemblies: DeployableSnapshot['assemblies']): void {
    const key = taskKey(task);
    const abort = new AbortController();
    const ctx = this.#context(deployable, assemblies, abort.signal);
    const done = this.#run(ctx, task)
      .catch((error: unknown) => this.#taskFailed(task, error))
      .finally(() => {
        this.#running.delete(key);
        this.wake();
      });
    this.#running.set(key, { abort, done, task });
  }

  #run(ctx: ActionContext, task: Task): Promise<void> {
    switch (task.kind) {
      case 'resume':
        return resume(ctx, task.step);
      case 'launch':
        return launch(ctx, task.assembly, task.incidentId === undefined ? {} : { incidentId: task.incidentId });
      case 'replace':
        // A roll-out, or a given-up assembly started again: a launch that fences the VM it replaces first.
        return launch(ctx, task.assembly);
      case 'stop':
        return stop(ctx, task.assembly, task.remove);
      case 'recover':
        return recover(ctx, task.incident);
      case 'conclude-restart':
        return concludeRestart(ctx, task.step, task.outcome, task.error);
      case 'reconfigure':
        return reconfigure(ctx, task.reconfiguration);
    }
  }

  async #taskFailed(task: Task, error: unknown): Promise<void> {
    const { logger, clock } = this.#deps;
    if (this.#closed) return;
    if (error instanceof LeaseLost) {
      void this.close(false);
      return;
    }
    if (error instanceof RetryLater) {
      this.#wakeNoLaterThan(error.at ?? clock.now() + this.#retryDelay(1));
      return;
    }
    logger.error({ err: error, deployable: this.deployableId, task: task.kind }, 'a recovery task failed unexpectedly');
    const incident = task.kind === 'recover' ? task.incident : undefined;
    try {
      if (incident !== undefined) {
        // Isolation: the incident is marked errored and retried with backoff; the rest carries on.
        const errors = incident.errors + 1;
        const text = error instanceof Error ? error.message : String(error);
        await this.#journal.write('marking an incident errored', (trx) =>
          trx.updateTable('incidents').set({ status: 'errored', errors, last_error: text.slice(0, 2_000), not_before: new Date(clock.now() + this.#retryDelay(errors)), updated_at: new Date() }).where('id', '=', incident.id).where('status', '<>', 'closed').execute(),
        );
      } else {
        this.#wakeNoLaterThan(clock.now() + this.#retryDelay(2));
      }
    } catch (nested) {
      if (nested instanceof LeaseLost) void this.close(false);
      else logger.error({ err: nested }, 'could not record a failed task');
    }
  }

  async #passFailed(error: unknown): Promise<void> {
    const { db, logger, clock } = this.#deps;
    if (error instanceof LeaseLost) {
      void this.close(false);
      return;
    }
    logger.error({ err: error, deployable: this.deployableId }, 'planning a deployable failed: it is retried with backoff, others carry on');
    const row = await db.selectFrom('deployables').select('errors').where('id', '=', this.deployableId).executeTakeFirst().catch(() => undefined);
    const errors = (row?.errors ?? 0) + 1;
    await db
      .updateTable('deployables')
      .set({ errors, last_error: (error instanceof Error ? error.message : String(error)).slice(0, 2_000), due_at: new Date(clock.now() + this.#retryDelay(errors)) })
      .where('id', '=', this.deployableId)
      .execute()
      .catch((nested: unknown) => logger.error({ err: nested }, 'could not record a failed pass'));
    void this.close(true);
  }
}

export interface WorkSchedulerOptions {
  db: Kysely<RecoveryTables>;
  leases: LeaseClient;
  logger: Logger;
  /** Deployables this replica works on at once. */
  maxDeployables: number;
  /** How often due work is looked for besides notifications. */
  pollMs: number;
  keeper: (lease: Lease, deployableId: string, onDone: (keeper: DeployableKeeper) => void) => DeployableKeeper;
}

/** Finds deployables with work due that no other replica holds, takes their leases and wakes their keepers. */
export class WorkScheduler {
  readonly #options: WorkSchedulerOptions;
  readonly #keepers = new Map<string, DeployableKeeper>();
  #timer: NodeJS.Timeout | undefined;
  #looking: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: WorkSchedulerOptions) {
    this.#options = options;
  }

  /** Deployables this replica holds now. */
  get held(): number {
    return this.#keepers.size;
  }

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => this.wake(), this.#options.pollMs);
    this.#timer.unref();
    this.wake();
  }

  wake(): void {
    if (this.#stopped) return;
    if (this.#looking !== undefined) {
      this.#again = true;
      return;
    }
    this.#looking = this.#look()
      .catch((error: unknown) => this.#options.logger.warn({ err: error }, 'looking for due work failed; trying again'))
      .finally(() => {
        this.#looking = undefined;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#looking;
    await Promise.all([...this.#keepers.values()].map((keeper) => keeper.close(true)));
  }

  async #look(): Promise<void> {
    const { db, leases, maxDeployables } = this.#options;
    const room = maxDeployables - this.#keepers.size;
    const due = await db
      .selectFrom('deployables as d')
      .select('d.id')
      .where('d.due_at', '<=', sql<Date>`clock_timestamp()`)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('leases as l')
              .select(sql`1`.as('one'))
              .where('l.name', '=', sql<string>`${'recovery-deployable:'} || d.id::text`)
              .where('l.expires_at', '>', sql<Date>`clock_timestamp()`)
              .where('l.holder', '<>', leases.holder),
          ),
        ),
      )
      .orderBy('d.due_at')
      .limit(Math.max(room, 0) + this.#keepers.size)
      .execute();
    const wanted: string[] = [];
    for (const { id } of due) {
      const keeper = this.#keepers.get(id);
      if (keeper !== undefined) {
        // A closing keeper still winds down; its deployable is taken up again once it is gone.
        if (!keeper.closed) keeper.wake();
      } else if (this.#keepers.size + wanted.length < maxDeployables) wanted.push(id);
    }
    // Leases are asked for all at once: in a storm, the hundredth deployable must not wait for ninety-nine round trips.
    await Promise.all(
      wanted.map(async (id) => {
        const lease = await leases.acquire(deployableLeaseName(id));
        if (lease === undefined || this.#stopped) {
          if (lease !== undefined) await leases.release(lease);
          return;
        }
        const fresh = this.#options.keeper(lease, id, (done) => {
          if (this.#keepers.get(done.deployableId) === done) this.#keepers.delete(done.deployableId);
        });
        this.#keepers.set(id, fresh);
        fresh.wake();
      }),
    );
  }
}
