/**
 * The step journal and every other write recovery makes while acting on a deployable: each one
 * goes through {@link StepJournal.write}, which checks the deployable's lease at its epoch in the
 * writing transaction (a stale holder's write is refused with `LeaseLost` and rolled back) and
 * retries while the database is briefly unavailable. Events are enqueued in the same transaction,
 * so a state change and its announcement commit together or not at all.
 *
 * A step is written as an intent (with the ids its action will use) before acting, and completed
 * with its outcome after: a replica that resumes the deployable finds the unfinished intent and
 * finishes it with the same ids.
 */
import type { DomainEvent } from '@defib/contracts';
import { guardLease, retryWhileDatabaseUnavailable, type Lease, type Logger, type Outbox } from '@defib/platform';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { AssemblyRow, DeployableRow, NewStep, RecoveryTables, StepKind, StepRow, StepState } from './tables.ts';

type Trx = Transaction<RecoveryTables>;

/** The subject of an event about a deployable. */
export interface DeployableScope {
  deployableId: string;
  deployable: string;
}

/** The subject of an event about an assembly, possibly narrowed to one of its resources. */
export interface AssemblyScope extends DeployableScope {
  assemblyId: string;
  assembly: string;
  resourceId?: string;
  resource?: string;
}

/** The subject of an event about a deployable, one of its assemblies, or one resource (named with its assembly). */
export function subjectOf(deployable: Pick<DeployableRow, 'id' | 'name' | 'resource_ids'>): DeployableScope;
export function subjectOf(deployable: Pick<DeployableRow, 'id' | 'name' | 'resource_ids'>, assembly: Pick<AssemblyRow, 'id' | 'name'>, resource?: string): AssemblyScope;
export function subjectOf(deployable: Pick<DeployableRow, 'id' | 'name' | 'resource_ids'>, assembly?: Pick<AssemblyRow, 'id' | 'name'>, resource?: string): DeployableScope | AssemblyScope;
export function subjectOf(deployable: Pick<DeployableRow, 'id' | 'name' | 'resource_ids'>, assembly?: Pick<AssemblyRow, 'id' | 'name'>, resource?: string): DeployableScope | AssemblyScope {
  const base = { deployableId: deployable.id, deployable: deployable.name };
  if (assembly === undefined) return base;
  const withAssembly = { ...base, assemblyId: assembly.id, assembly: assembly.name };
  if (resource === undefined) return withAssembly;
  const resourceId = deployable.resource_ids[`${assembly.name}/${resource}`];
  return resourceId === undefined ? withAssembly : { ...withAssembly, resourceId, resource };
}

export interface StepJournalOptions {
  db: Kysely<RecoveryTables>;
  outbox: Outbox<RecoveryTables>;
  logger: Logger;
  /** The lease the writes are made under; read at each write, so a renewed lease is used. */
  lease: () => Lease;
  /** False once the holder gives the deployable up: a write waiting for the database stops retrying. */
  holding: () => boolean;
  /** Hears each step that reached its end, once its transaction committed. */
  onFinished?: ((kind: StepKind, outcome: StepState) => void) | undefined;
}

export class StepJournal {
  readonly #options: StepJournalOptions;

  constructor(options: StepJournalOptions) {
    this.#options = options;
  }

  /** Runs `work` in one transaction under the lease, then enqueues what it returns as events. */
  async write<T>(what: string, work: (trx: Trx) => Promise<T>, events: (result: T) => readonly DomainEvent[] = () => []): Promise<T> {
    const { db, outbox, logger, lease, holding } = this.#options;
    return retryWhileDatabaseUnavailable(
      () =>
        db.transaction().execute(async (trx) => {
          await guardLease(trx, lease());
          const result = await work(trx);
          const emitted = events(result);
          if (emitted.length > 0) await outbox.enqueue(trx, emitted);
          return result;
        }),
      { logger, what, shouldContinue: holding },
    );
  }

  /** Enqueues events in a transaction of {@link write} (for events decided inside it). */
  enqueue(trx: Trx, events: readonly DomainEvent[]): Promise<void> {
    return events.length === 0 ? Promise.resolve() : this.#options.outbox.enqueue(trx, events);
  }

  /** Writes an intent (state `intended`) and returns the row. */
  intend(step: Omit<NewStep, 'state'>, also?: (trx: Trx) => Promise<void>, events: readonly DomainEvent[] = []): Promise<StepRow> {
    return this.write(
      `recording the intent of a ${step.kind} step`,
      async (trx) => {
        const row = await trx
          .insertInto('steps')
          .values({ ...step, state: 'intended' })
          .returningAll()
          .executeTakeFirstOrThrow();
        await also?.(trx);
        return row;
      },
      () => events,
    );
  }

  /** Moves a step on (`verifying`, or its end), merging `detail` into what it holds. */
  advance(
    step: Pick<StepRow, 'id' | 'kind'>,
    change: { state: StepState; detail?: Record<string, unknown>; error?: string | null; reason?: string | null; acted?: boolean },
    also?: (trx: Trx) => Promise<void>,
    events: readonly DomainEvent[] = [],
  ): Promise<void> {
    const finished = change.state === 'succeeded' || change.state === 'failed' || change.state === 'skipped';
    const written = this.write(
      `recording a ${step.kind} step as ${change.state}`,
      async (trx) => {
        await trx
          .updateTable('steps')
          .set({
            state: change.state,
            ...(change.detail === undefined ? {} : { detail: sql<Record<string, unknown>>`detail || ${JSON.stringify(change.detail)}::jsonb` as never }),
            ...(change.error === undefined ? {} : { error: change.error }),
            ...(change.reason === undefined ? {} : { reason: change.reason }),
            ...(change.acted === true ? { acted_at: sql<Date>`coalesce(acted_at, clock_timestamp())` as never } : {}),
            ...(finished ? { finished_at: sql<Date>`clock_timestamp()` as never } : {}),
          })
          .where('id', '=', step.id)
          .execute();
        await also?.(trx);
      },
      () => events,
    );
    return finished ? written.then(() => this.#options.onFinished?.(step.kind, change.state)) : written;
  }
}
