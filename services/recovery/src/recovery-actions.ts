/**
 * What recovery does to a deployable, task by task: launch and stop assemblies, walk an
 * incident's ladder one rung at a time, restart the whole deployable, reconfigure resources.
 * Every task writes its step as an intent before acting and its outcome after (the step journal),
 * and every function here is also how an unfinished step is resumed: it looks at what the step
 * recorded and carries on from there with the same ids (a launch's action id, a command's id), so
 * a replica killed at any moment is finished by the next one without a second VM or a repeated
 * completed step.
 */
import { randomUUID } from 'node:crypto';
import { isCloudError } from '@defib/clouds';
import {
  addressForField,
  createDomainEvent,
  launchOrder,
  recoverySteps,
  type Address,
  type AssemblyFailureKind,
  type DomainEvent,
  type PingReply,
  type RecoveryStep,
} from '@defib/contracts';
import type { Clock, Logger } from '@defib/platform';
import type { Kysely, Transaction } from 'kysely';
import type { ActionSlots } from './action-slots.ts';
import { agentConfigFor, resolveParams } from './agent-config.ts';
import { nextStep, type EscalationPolicy, type NextStep, type PastStep, type VmCondition } from './escalation.ts';
import { FenceUnconfirmed, VerificationFailed, type RecoveryHands } from './hands.ts';
import { specHash, specOf } from './planner.ts';
import { subjectOf, type AssemblyScope, type StepJournal } from './step-journal.ts';
import { incident as incidentById, openIncident } from './incident.repository.ts';
import type { AssemblyRow, DeployableRow, FailureObservation, IncidentRow, ReconfigurationRow, RecoveryTables, StepKind, StepRow } from './tables.ts';

type Trx = Transaction<RecoveryTables>;

/** An incident older than this that no step has touched is checked first: the failure may have healed meanwhile. */
const PROBE_STALE_AFTER_MS = 1_000;
const PROBE_TIMEOUT_MS = 1_000;
/** Reconfiguration attempts before the resource gets an incident of its own. */
const MAX_RECONFIGURE_ATTEMPTS = 5;
const LADDER_KINDS = new Set<string>(recoverySteps);

export interface ActionContext {
  readonly db: Kysely<RecoveryTables>;
  readonly journal: StepJournal;
  readonly hands: RecoveryHands;
  readonly slots: ActionSlots;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly agent: { brokerUrl: string; exchange: string; secret: Uint8Array };
  readonly bootTimeoutMs: number;
  readonly retryDelay: (attempt: number) => number;
  /** The deployable and its assemblies as the pass that started the task read them. */
  readonly deployable: DeployableRow;
  readonly assemblies: readonly AssemblyRow[];
  /** Hears the first action of each step (cloud call or agent command), for the latency figures. */
  readonly onAction?: ((incident: IncidentRow | undefined) => void) | undefined;
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

async function assemblyById(db: Kysely<RecoveryTables> | Trx, id: string): Promise<AssemblyRow | undefined> {
  return db.selectFrom('assemblies').selectAll().where('id', '=', id).executeTakeFirst();
}

async function assembliesOf(db: Kysely<RecoveryTables>, deployableId: string): Promise<AssemblyRow[]> {
  return db.selectFrom('assemblies').selectAll().where('deployable_id', '=', deployableId).execute();
}

function resourceNameOf(deployable: DeployableRow, resourceId: string | null): string | undefined {
  if (resourceId === null) return undefined;
  const key = Object.entries(deployable.resource_ids).find(([, id]) => id === resourceId)?.[0];
  return key?.slice(key.indexOf('/') + 1);
}

function addressesLookup(assemblies: readonly AssemblyRow[]) {
  const byName = new Map(assemblies.map((assembly) => [assembly.name, assembly]));
  return (name: string): readonly Address[] | undefined => {
    const assembly = byName.get(name);
    return assembly === undefined || assembly.addresses.length === 0 ? undefined : assembly.addresses;
  };
}

function healthyShare(assemblies: readonly AssemblyRow[]): number {
  const current = assemblies.filter((assembly) => assembly.phase !== 'removed');
  return current.length === 0 ? 1 : current.filter((assembly) => assembly.phase === 'running').length / current.length;
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 2_000 ? `${text.slice(0, 1_997)}...` : text === '' ? 'unknown error' : text;
}

/**
 * A failure that says nothing about whether the rung could help: the cloud's API was down or
 * throttling beyond the driver's own retries, refused the request, or a bug. The incident is marked
 * errored and retried with backoff, on the same rung, instead of being escalated: an API outage
 * must not burn the ladder. A VM the cloud no longer knows, or one in a state the action does not
 * fit, is a failed rung (the next one may help), and so is a verification that timed out or a
 * fence the cloud would not confirm.
 */
function isOutsideTheLadder(error: unknown): boolean {
  if (error instanceof VerificationFailed || error instanceof FenceUnconfirmed) return false;
  if (isCloudError(error)) return error.kind !== 'not-found' && error.kind !== 'conflict';
  return true;
}

// ---------------------------------------------------------------------------------------------
// Launch, fence, stop
// ---------------------------------------------------------------------------------------------

/**
 * Brings up a VM for `assembly` under `step` (a `launch`, or a `recreate` rung): fences the VM it
 * replaces first (recorded in the step, so a resumed step does not fence twice or skip it), launches
 * with the step's action id (the driver never makes two VMs for one id), records the VM, and waits
 * for its agent to answer from it. Resolves with the answered boot; throws when it did not answer.
 */
async function bringUp(ctx: ActionContext, step: StepRow, assembly: AssemblyRow, incidentId: string | undefined): Promise<{ instanceId: string; bootId: string; addresses: Address[] }> {
  const { deployable, journal, hands } = ctx;
  const cloud = deployable.cloud;
  const subject = subjectOf(deployable, assembly);
  const correlationId = incidentId ?? step.id;
  const previous = step.detail.previousInstanceId as string | undefined;
  if (previous !== undefined && step.detail.fenced !== true) {
    ctx.onAction?.(undefined);
    const fence = await hands.fence(cloud, previous, ctx.signal);
    await journal.advance(step, { state: 'intended', detail: { fenced: true, fence }, acted: true }, async (trx) => {
      await trx.updateTable('assemblies').set({ instance_id: null, boot_id: null, updated_at: new Date() }).where('id', '=', assembly.id).where('instance_id', '=', previous).execute();
    }, [
      createDomainEvent('assembly.fenced', {
        subject,
        correlationId,
        reason: `${previous} was terminated and the cloud confirmed it (${fence.cloudStatus}) before its replacement is created`,
        data: { instanceId: previous, action: fence.action, confirmedBy: fence.confirmedBy, cloudStatus: fence.cloudStatus, ...(incidentId === undefined ? {} : { incidentId }) },
      }),
    ]);
  }
  const verified = (step.detail.instanceId as string | undefined) ?? (await launchFor(ctx, step, assembly, previous, correlationId));
  const reply = await hands.awaitAgent(assembly.id, { instanceId: verified, cloud: ctx.deployable.cloud }, { timeoutMs: ctx.bootTimeoutMs, signal: ctx.signal });
  const addresses = await currentAddresses(ctx, verified);
  return { instanceId: verified, bootId: reply.bootId, addresses };
}

/** Launches the step's VM (the driver makes at most one per action id) and records it as booting. */
async function launchFor(ctx: ActionContext, step: StepRow, assembly: AssemblyRow, previous: string | undefined, correlationId: string): Promise<string> {
  const { deployable, journal, hands } = ctx;
  const cloud = deployable.cloud;
  const subject = subjectOf(deployable, assembly);
  {
    const spec = specOf(deployable.manifest, assembly.name);
    if (spec === undefined) throw new Error(`assembly ${assembly.name} is not in manifest version ${deployable.version}`);
    const { userData, unresolved } = agentConfigFor({
      brokerUrl: ctx.agent.brokerUrl,
      exchange: ctx.agent.exchange,
      agentSecret: ctx.agent.secret,
      deployableId: deployable.id,
      assemblyId: assembly.id,
      assembly: spec,
      addressesOf: addressesLookup(await assembliesOf(ctx.db, deployable.id)),
    });
    ctx.onAction?.(undefined);
    const instance = await hands.launch(cloud, {
      actionId: step.action_id,
      name: `${deployable.name}-${assembly.name}`,
      image: spec.image,
      flavor: spec.flavor,
      ...(spec.network === undefined ? {} : { network: spec.network }),
      userData,
      deployableId: deployable.id,
      assemblyId: assembly.id,
      metadata: spec.metadata,
      tags: spec.tags,
    });
    const launched = instance.id;
    await journal.advance(step, { state: 'verifying', detail: { instanceId: launched }, acted: true }, async (trx) => {
      await trx
        .updateTable('assemblies')
        .set({ instance_id: launched, boot_id: null, phase: 'booting', addresses: JSON.stringify(instance.addresses), launched_version: deployable.version, spec_hash: specHash(spec), updated_at: new Date() })
        .where('id', '=', assembly.id)
        .execute();
      // A reference to an assembly that has no address yet is given to the resource once it has one.
      for (const { resource } of unresolved) {
        await trx
          .insertInto('reconfigurations')
          .values({ deployable_id: deployable.id, assembly_id: assembly.id, resource, attempts: 0 })
          .onConflict((conflict) => conflict.columns(['assembly_id', 'resource']).doNothing())
          .execute();
      }
    }, [
      createDomainEvent('assembly.launched', {
        subject,
        correlationId,
        reason: previous === undefined ? `launched ${assembly.name} on ${cloud}` : `launched a replacement for ${previous}`,
        data: { instanceId: launched, cloud, addresses: [...instance.addresses], ...(previous === undefined ? {} : { previousInstanceId: previous }) },
      }),
    ]);
    return launched;
  }
}

async function currentAddresses(ctx: ActionContext, instanceId: string): Promise<Address[]> {
  try {
    const instance = await ctx.hands.describe(ctx.deployable.cloud, instanceId);
    return instance === undefined ? [] : [...instance.addresses];
  } catch {
    const row = await ctx.db.selectFrom('assemblies').select('addresses').where('instance_id', '=', instanceId).executeTakeFirst();
    return row?.addresses ?? [];
  }
}

async function markRunning(trx: Trx, assemblyId: string, up: { instanceId: string; bootId: string; addresses: Address[] }): Promise<void> {
  await trx
    .updateTable('assemblies')
    .set({ phase: 'running', instance_id: up.instanceId, boot_id: up.bootId, addresses: JSON.stringify(up.addresses), updated_at: new Date() })
    .where('id', '=', assemblyId)
    .execute();
}

/** Launches an absent assembly (or resumes its launch step). A launch whose VM never answers opens an incident. */
export async function launch(ctx: ActionContext, assembly: AssemblyRow, options: { incidentId?: string; step?: StepRow } = {}): Promise<void> {
  const { deployable, journal } = ctx;
  const incidentId = options.incidentId ?? options.step?.incident_id ?? undefined;
  const step =
    options.step ??
    (await journal.intend(
      {
        deployable_id: deployable.id,
        incident_id: incidentId ?? null,
        assembly_id: assembly.id,
        kind: 'launch',
        action: 'launch',
        action_id: randomUUID(),
        reason: assembly.instance_id === null ? `start ${assembly.name}` : `launch ${assembly.name} again`,
        detail: JSON.stringify(assembly.instance_id === null ? {} : { previousInstanceId: assembly.instance_id }),
      },
      async (trx) => {
        await trx.updateTable('assemblies').set({ phase: 'launching', updated_at: new Date() }).where('id', '=', assembly.id).execute();
      },
    ));
  const release = await ctx.slots.acquire({ cloud: deployable.cloud, healthyShare: healthyShare(ctx.assemblies), incidentOpenedAt: step.intended_at.getTime(), signal: ctx.signal });
  try {
    const up = await bringUp(ctx, step, assembly, incidentId);
    await journal.advance(step, { state: 'succeeded' }, (trx) => markRunning(trx, assembly.id, up));
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    const text = errorText(error);
    await journal.advance(step, { state: 'failed', error: text }, async (trx) => {
      const current = await assemblyById(trx, assembly.id);
      if (current === undefined) return;
      // A launch the cloud refused before making a VM is tried again later; a VM that was made (or an old one
      // that could not be fenced) and does not answer is a failed assembly, recovered through an incident.
      const failed = current.phase === 'booting' || current.instance_id !== null;
      await trx.updateTable('assemblies').set({ phase: failed ? 'failed' : 'absent', updated_at: new Date() }).where('id', '=', assembly.id).execute();
      if (failed && incidentId === undefined) {
        await raiseIncident(
          trx,
          ctx,
          subjectOf(ctx.deployable, assembly),
          { type: 'assembly.launched', kind: current.phase === 'booting' ? 'boot-failed' : 'crashed', detail: text, ...(current.instance_id === null ? {} : { instanceId: current.instance_id }) },
          `${assembly.name}'s VM did not answer after its launch: ${text}`,
        );
      }
    });
    ctx.logger.warn({ err: error, assembly: assembly.name }, 'launch failed');
  } finally {
    release();
  }
}

/**
 * Opens (or folds into) an incident from inside recovery — a launch that never answered, a
 * reconfiguration that kept failing — with its `incident.opened` event when it is new.
 */
async function raiseIncident(trx: Trx, ctx: ActionContext, subject: AssemblyScope, failure: Omit<FailureObservation, 'at'>, reason: string): Promise<void> {
  const level = subject.resourceId === undefined ? 'assembly' : 'resource';
  const { incident, opened } = await openIncident(
    trx,
    { level, deployableId: subject.deployableId, assemblyId: subject.assemblyId, resourceId: subject.resourceId },
    { type: failure.type },
    { ...failure, at: new Date(ctx.clock.now()).toISOString() },
  );
  if (!opened) return;
  await enqueue(trx, ctx, [createDomainEvent('incident.opened', { subject, correlationId: incident.id, reason, data: { incidentId: incident.id, level, trigger: failure.type } })]);
}

function enqueue(trx: Trx, ctx: ActionContext, events: readonly DomainEvent[]): Promise<void> {
  return ctx.journal.enqueue(trx, events);
}

/** Terminates an assembly's VM and waits for the cloud to confirm it (or resumes that); `remove` forgets the assembly after. */
export async function stop(ctx: ActionContext, assembly: AssemblyRow, remove: boolean, resumed?: StepRow): Promise<void> {
  const { deployable, journal } = ctx;
  const instanceId = (resumed?.detail.instanceId as string | undefined) ?? assembly.instance_id ?? undefined;
  const step =
    resumed ??
    (await journal.intend(
      { deployable_id: deployable.id, assembly_id: assembly.id, kind: 'stop', action: 'terminate', action_id: randomUUID(), reason: remove ? `${assembly.name} left the manifest` : `stop ${assembly.name}`, detail: JSON.stringify({ remove, ...(instanceId === undefined ? {} : { instanceId }) }) },
      async (trx) => {
        await trx.updateTable('assemblies').set({ phase: 'stopping', updated_at: new Date() }).where('id', '=', assembly.id).execute();
      },
    ));
  try {
    if (instanceId !== undefined) {
      ctx.onAction?.(undefined);
      await ctx.hands.terminate(deployable.cloud, instanceId, ctx.signal);
    }
    await journal.advance(step, { state: 'succeeded', acted: true }, async (trx) => {
      if (step.detail.remove === true || remove) await trx.deleteFrom('assemblies').where('id', '=', assembly.id).execute();
      else await trx.updateTable('assemblies').set({ phase: 'stopped', instance_id: null, boot_id: null, addresses: '[]', spec_hash: null, updated_at: new Date() }).where('id', '=', assembly.id).execute();
    }, [createDomainEvent('assembly.stopped', { subject: subjectOf(deployable, assembly), correlationId: step.id, reason: step.reason ?? 'stopped', data: instanceId === undefined ? {} : { instanceId } })]);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    await journal.advance(step, { state: 'failed', error: errorText(error) }, async (trx) => {
      await trx.updateTable('assemblies').set({ phase: 'stopping', updated_at: new Date() }).where('id', '=', assembly.id).execute();
    });
    ctx.logger.warn({ err: error, assembly: assembly.name }, 'stop not confirmed; it is tried again');
    throw new RetryLater(`stopping ${assembly.name}: ${errorText(error)}`);
  }
}

/** Work that failed for a reason that passes (a cloud outage): the pass tries again after the retry delay. */
export class RetryLater extends Error {
  /** When to try again; the retry delay from now when not given. */
  readonly at: number | undefined;

  constructor(message: string, at?: number) {
    super(message);
    this.name = 'RetryLater';
    this.at = at;
  }
}

// ---------------------------------------------------------------------------------------------
// Incidents: one rung at a time
// ---------------------------------------------------------------------------------------------

function policyFor(deployable: DeployableRow, assembly: AssemblyRow | undefined, resource: string | undefined): EscalationPolicy {
  const manifest = deployable.manifest;
  const spec = assembly === undefined ? undefined : specOf(manifest, assembly.name);
  const resourceSpec = resource === undefined ? undefined : spec?.resources.find((candidate) => candidate.name === resource);
  const first = manifest.assemblies[0];
  const assemblyPolicy = spec?.escalation ?? first?.escalation ?? { maxRecoveries: 3, windowMs: 900_000, ladder: ['reboot', 'hard-reboot', 'recreate'] };
  return {
    ...(resourceSpec === undefined ? {} : { resource: resourceSpec.escalation }),
    assembly: assemblyPolicy,
    deployable: manifest.escalation,
  };
}

/**
 * In one read: the ladder steps taken for this deployable within its longest window, as the policy
 * reads them (failures outside the ladder left out), and every step of this incident.
 */
async function journalOf(ctx: ActionContext, policy: EscalationPolicy, incidentId: string): Promise<{ history: PastStep[]; incidentSteps: StepRow[] }> {
  const windowMs = Math.max(policy.assembly.windowMs, policy.deployable.windowMs, policy.resource?.windowMs ?? 0);
  const rows = await ctx.db
    .selectFrom('steps')
    .selectAll()
    .where('deployable_id', '=', ctx.deployable.id)
    .where((eb) => eb.or([eb('intended_at', '>', new Date(ctx.clock.now() - windowMs)), eb('incident_id', '=', incidentId)]))
    .orderBy('intended_at')
    .execute();
  const history = rows
    .filter((row) => LADDER_KINDS.has(row.kind) && row.incident_id !== null && row.detail.outsideLadder !== true)
    .map((row) => ({
      kind: row.kind as RecoveryStep,
      outcome: row.state === 'intended' || row.state === 'verifying' ? ('under-way' as const) : row.state,
      at: row.intended_at.getTime(),
      incidentId: row.incident_id as string,
      ...(row.assembly_id === null ? {} : { assemblyId: row.assembly_id }),
      ...(row.resource_id === null ? {} : { resourceId: row.resource_id }),
    }));
  return { history, incidentSteps: rows.filter((row) => row.incident_id === incidentId) };
}

async function vmCondition(ctx: ActionContext, assembly: AssemblyRow | undefined): Promise<VmCondition> {
  if (assembly?.instance_id == null) return { state: 'gone' };
  try {
    const instance = await ctx.hands.describe(ctx.deployable.cloud, assembly.instance_id);
    if (instance === undefined) return { state: 'gone' };
    return { state: instance.state, ...(instance.health === undefined ? {} : { health: instance.health }) };
  } catch {
    return { state: 'unknown' };
  }
}

function incidentSubject(ctx: ActionContext, incident: IncidentRow, assembly: AssemblyRow | undefined) {
  return subjectOf(ctx.deployable, assembly, resourceNameOf(ctx.deployable, incident.resource_id));
}

/** Closes an incident with its events: recovered (with what brought it back), gave-up, cancelled. */
async function closeIncident(trx: Trx, incident: IncidentRow, outcome: 'recovered' | 'gave-up' | 'cancelled' | 'errored'): Promise<void> {
  await trx
    .updateTable('incidents')
    .set({ status: 'closed', outcome, closed_at: new Date(), updated_at: new Date(), not_before: null })
    .where('id', '=', incident.id)
    .where('status', '<>', 'closed')
    .execute();
}

/** The assembly's agent's answer from its current VM, if it answers now (a hung or cut-off one costs the timeout). */
async function probeAgent(ctx: ActionContext, assembly: AssemblyRow | undefined): Promise<PingReply | undefined> {
  if (assembly?.instance_id == null) return undefined;
  try {
    const reply = await ctx.hands.probe(assembly.id, PROBE_TIMEOUT_MS);
    return reply.instanceId === assembly.instance_id ? reply : undefined;
  } catch {
    return undefined;
  }
}

/** Whether an answer shows the failure healed: the VM answers (an assembly incident), and the resource runs (a resource incident). */
function healedBy(reply: PingReply | undefined, resource: string | undefined): reply is PingReply {
  if (reply === undefined) return false;
  return resource === undefined || reply.resources.find((status) => status.name === resource)?.state === 'running';
}

/**
 * Takes the next rung for an open incident: checks a stale one first (it may have healed), asks
 * the cloud how the VM is, lets the policy choose, records skipped rungs and the intent, acts and
 * verifies. A failed rung is recorded and the next pass chooses again; a failure outside the ladder
 * (the cloud refusing for good, a bug) marks the incident errored and retries it with backoff.
 */
export async function recover(ctx: ActionContext, incident: IncidentRow): Promise<void> {
  const { deployable, journal, clock } = ctx;
  const assembly = incident.assembly_id === null ? undefined : ctx.assemblies.find((row) => row.id === incident.assembly_id);
  const resource = resourceNameOf(deployable, incident.resource_id);
  const subject = incidentSubject(ctx, incident, assembly);
  const assemblySubject = assembly === undefined ? undefined : subjectOf(deployable, assembly);
  const policy = policyFor(deployable, assembly, resource);
  const { history, incidentSteps } = await journalOf(ctx, policy, incident.id);
  const now = clock.now();
  const acted = incidentSteps.some((step) => step.state !== 'skipped');
  const fresh = !acted && now - incident.updated_at.getTime() <= PROBE_STALE_AFTER_MS;
  let answer: PingReply | undefined;
  // A failure that waited (in maintenance, in a backoff, behind its assembly's incident) may have healed meanwhile: asked first.
  // A fresh resource failure was just reported by its agent: its VM runs, and the restart is the first action.
  if (incident.level !== 'deployable' && !fresh) {
    answer = await probeAgent(ctx, assembly);
    const healed = healedBy(answer, resource) ? answer : undefined;
    if (healed !== undefined && assembly?.instance_id != null) {
      await journal.write('closing a healed incident', async (trx) => {
        await closeIncident(trx, incident, 'recovered');
        if (incident.level === 'assembly') await trx.updateTable('assemblies').set({ phase: 'running', boot_id: healed.bootId, updated_at: new Date() }).where('id', '=', assembly.id).execute();
      }, () => [
        ...(incident.level === 'assembly' && assemblySubject !== undefined
          ? [createDomainEvent('assembly.recovered', { subject: assemblySubject, correlationId: incident.id, reason: 'its agent answers again from the same VM', data: { instanceId: assembly.instance_id as string, addresses: assembly.addresses, incidentId: incident.id } })]
          : []),
        createDomainEvent('incident.resolved', { subject, correlationId: incident.id, reason: 'healthy again', data: { incidentId: incident.id, outcome: 'recovered' } }),
      ]);
      return;
    }
  }
  const failure = incident.level === 'resource' ? 'resource-failed' : (incident.failure.kind as AssemblyFailureKind | undefined);
  // A VM whose agent answers runs: the cloud (rate-limited, slow in a storm) is asked only when it does not.
  const agentRuns = answer !== undefined || (fresh && incident.level === 'resource' && assembly?.phase === 'running');
  const vm: VmCondition = incident.level === 'deployable' ? { state: 'unknown' } : agentRuns ? { state: 'running' } : await vmCondition(ctx, assembly);
  const decision = readably(
    nextStep(
    policy,
    history,
    {
      incident: { id: incident.id, level: incident.level, openedAt: incident.opened_at.getTime(), ...(incident.assembly_id === null ? {} : { assemblyId: incident.assembly_id }), ...(incident.resource_id === null ? {} : { resourceId: incident.resource_id }) },
      ...(failure === undefined ? {} : { failure }),
      vm,
    },
    now,
    ),
    { ...(assembly === undefined ? {} : { [assembly.id]: assembly.name }), ...(incident.resource_id === null || resource === undefined ? {} : { [incident.resource_id]: resource }) },
  );
  if (decision.do === 'wait') throw new RetryLater(decision.reason, decision.until);
  if (decision.do === 'give-up') {
    await journal.write('giving up an incident', async (trx) => {
      await closeIncident(trx, incident, 'gave-up');
      if (assembly !== undefined) await trx.updateTable('assemblies').set({ phase: 'failed', updated_at: new Date() }).where('id', '=', assembly.id).execute();
    }, () => [
      createDomainEvent('recovery.gave-up', { subject, correlationId: incident.id, reason: decision.reason, data: { incidentId: incident.id, stepsTried: decision.stepsTried } }),
      createDomainEvent('incident.resolved', { subject, correlationId: incident.id, reason: decision.reason, data: { incidentId: incident.id, outcome: 'gave-up' } }),
    ]);
    return;
  }
  const kind: RecoveryStep = decision.do;
  // Counted from the journal, so a rung retried after an error outside the ladder is its next attempt.
  const attempt = incidentSteps.filter((step) => step.kind === kind && step.state !== 'skipped').length + 1;
  const previousKind = [...incidentSteps].reverse().find((step) => step.state !== 'skipped' && LADDER_KINDS.has(step.kind))?.kind as RecoveryStep | undefined;
  const skipped = 'skipped' in decision ? decision.skipped : [];
  const action = kind === 'restart-resource' ? 'restart' : kind === 'recreate' ? 'launch' : kind === 'restart-deployable' ? 'restart' : (decision as Extract<NextStep, { action: string }>).action;
  const step = await journal.write(
    `recording the intent of a ${kind} step`,
    async (trx) => {
      for (const rung of skipped) {
        await trx
          .insertInto('steps')
          .values({ deployable_id: deployable.id, incident_id: incident.id, assembly_id: incident.assembly_id, resource_id: incident.resource_id, kind: rung.step, action: 'none', action_id: randomUUID(), state: 'skipped', reason: rung.reason, finished_at: new Date() })
          .execute();
      }
      const row = await trx
        .insertInto('steps')
        .values({
          deployable_id: deployable.id,
          incident_id: incident.id,
          assembly_id: incident.assembly_id,
          resource_id: incident.resource_id,
          kind,
          attempt,
          action,
          action_id: randomUUID(),
          command_id: kind === 'restart-resource' ? randomUUID() : null,
          state: 'intended',
          reason: decision.reason,
          detail: JSON.stringify({
            ...(resource === undefined ? {} : { resource }),
            // A reboot acts on `instanceId`; a recreate fences `previousInstanceId` and records its new VM as `instanceId`.
            ...(assembly?.instance_id == null ? {} : kind === 'recreate' ? { previousInstanceId: assembly.instance_id } : { instanceId: assembly.instance_id }),
            ...(assembly?.boot_id == null ? {} : { bootBefore: assembly.boot_id }),
            ...(kind === 'restart-deployable' ? { stage: 'stopping' } : {}),
          }),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx.updateTable('incidents').set({ status: 'open', updated_at: new Date() }).where('id', '=', incident.id).execute();
      if (assembly !== undefined && kind !== 'restart-resource') await trx.updateTable('assemblies').set({ phase: 'failed', updated_at: new Date() }).where('id', '=', assembly.id).execute();
      return row;
    },
    () => [
      ...(previousKind !== undefined && previousKind !== kind ? [createDomainEvent('recovery.escalated', { subject, correlationId: incident.id, reason: decision.reason, data: { incidentId: incident.id, from: previousKind, to: kind } })] : []),
      createDomainEvent('recovery.started', { subject, correlationId: incident.id, reason: decision.reason, data: { incidentId: incident.id, step: kind, attempt } }),
    ],
  );
  await runRung(ctx, incident, step);
}

/** The policy speaks of ids (it is given no names); people read names in incident timelines and events. */
function readably(decision: NextStep, names: Readonly<Record<string, string>>): NextStep {
  const name = (text: string) => Object.entries(names).reduce((named, [id, readable]) => named.replaceAll(id, readable), text);
  return {
    ...decision,
    reason: name(decision.reason),
    ...('skipped' in decision ? { skipped: decision.skipped.map((rung) => ({ ...rung, reason: name(rung.reason) })) } : {}),
  };
}

/** Acts and verifies one rung (fresh or resumed), then records the outcome. */
export async function runRung(ctx: ActionContext, incident: IncidentRow, step: StepRow): Promise<void> {
  const { deployable, journal, hands } = ctx;
  const kind = step.kind as RecoveryStep;
  const assembly = step.assembly_id === null ? undefined : (ctx.assemblies.find((row) => row.id === step.assembly_id) ?? (await assemblyById(ctx.db, step.assembly_id)));
  const subject = incidentSubject(ctx, incident, assembly);
  const resource = step.detail.resource as string | undefined;
  if (kind === 'restart-deployable') return restartDeployable(ctx, incident, step);
  // A resource restart goes through the agent, not the cloud: it takes none of the cloud's action slots.
  const release = kind === 'restart-resource' ? () => undefined : await ctx.slots.acquire({ cloud: deployable.cloud, healthyShare: healthyShare(ctx.assemblies), incidentOpenedAt: incident.opened_at.getTime(), signal: ctx.signal });
  try {
    if (assembly === undefined) throw new Error(`step ${step.id} (${kind}) names no assembly`);
    if (kind === 'restart-resource') {
      if (resource === undefined || step.command_id === null) throw new Error(`step ${step.id} names no resource or command`);
      ctx.onAction?.(incident);
      await hands.restartResource(assembly.id, resource, step.command_id);
      await journal.advance(step, { state: 'succeeded', acted: true }, (trx) => closeIncident(trx, incident, 'recovered'), [
        createDomainEvent('resource.restarted', { subject: subject as Required<AssemblyScope>, correlationId: incident.id, reason: `${resource} was restarted through its agent`, data: {} }),
        createDomainEvent('recovery.step-succeeded', { subject, correlationId: incident.id, reason: `${resource} runs again`, data: { incidentId: incident.id, step: kind, attempt: step.attempt } }),
        createDomainEvent('incident.resolved', { subject, correlationId: incident.id, reason: `${resource} runs again`, data: { incidentId: incident.id, outcome: 'recovered' } }),
      ]);
      return;
    }
    let up: { instanceId: string; bootId: string; addresses: Address[] };
    if (kind === 'recreate') {
      up = await bringUp(ctx, step, assembly, incident.id);
    } else {
      const instanceId = step.detail.instanceId as string | undefined;
      if (instanceId === undefined) throw new Error(`step ${step.id} (${kind}) has no VM to act on`);
      const bootBefore = step.detail.bootBefore as string | undefined;
      if (step.state === 'intended' && !(await alreadyRebooted(ctx, step, assembly.id, instanceId, bootBefore))) {
        ctx.onAction?.(incident);
        await hands.power(deployable.cloud, instanceId, step.action as 'reboot-soft' | 'reboot-hard' | 'start');
        await journal.advance(step, { state: 'verifying', acted: true });
      }
      const reply = await hands.awaitAgent(assembly.id, { instanceId, cloud: deployable.cloud, ...(bootBefore === undefined ? {} : { otherThanBoot: bootBefore }) }, { timeoutMs: ctx.bootTimeoutMs, signal: ctx.signal });
      up = { instanceId, bootId: reply.bootId, addresses: await currentAddresses(ctx, instanceId) };
    }
    await journal.advance(step, { state: 'succeeded', detail: { instanceId: up.instanceId, bootAfter: up.bootId } }, async (trx) => {
      await markRunning(trx, assembly.id, up);
      await closeIncident(trx, incident, 'recovered');
    }, [
      createDomainEvent('recovery.step-succeeded', { subject, correlationId: incident.id, reason: `${assembly.name} answers from ${up.instanceId}`, data: { incidentId: incident.id, step: kind, attempt: step.attempt } }),
      createDomainEvent('assembly.recovered', { subject: subjectOf(deployable, assembly), correlationId: incident.id, reason: `${kind} brought ${assembly.name} back`, data: { instanceId: up.instanceId, addresses: up.addresses, incidentId: incident.id, step: kind } }),
      createDomainEvent('incident.resolved', { subject, correlationId: incident.id, reason: `${assembly.name} recovered by ${kind}`, data: { incidentId: incident.id, outcome: 'recovered' } }),
    ]);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    await failRung(ctx, incident, step, subject, error);
  } finally {
    release();
  }
}

/** A resumed reboot that already happened (a new boot answers, or the cloud is rebooting it) is not done twice. */
async function alreadyRebooted(ctx: ActionContext, step: StepRow, assemblyId: string, instanceId: string, bootBefore: string | undefined): Promise<boolean> {
  if (step.acted_at !== null) return true;
  if (step.intended_at.getTime() > ctx.clock.now() - 50) return false;
  try {
    const instance = await ctx.hands.describe(ctx.deployable.cloud, instanceId);
    if (instance?.state === 'rebooting' || instance?.state === 'pending') return true;
  } catch {
    // Not known: ask the agent.
  }
  if (bootBefore === undefined) return false;
  try {
    const reply = await ctx.hands.probe(assemblyId, PROBE_TIMEOUT_MS);
    return reply.instanceId === instanceId && reply.bootId !== bootBefore;
  } catch {
    return false;
  }
}

async function failRung(ctx: ActionContext, incident: IncidentRow, step: StepRow, subject: ReturnType<typeof incidentSubject>, error: unknown): Promise<void> {
  const outside = isOutsideTheLadder(error);
  const text = errorText(error);
  const errors = incident.errors + 1;
  await ctx.journal.advance(step, { state: 'failed', error: text, ...(outside ? { detail: { outsideLadder: true } } : {}) }, async (trx) => {
    await trx
      .updateTable('incidents')
      .set(
        outside
          ? { status: 'errored', errors, last_error: text, not_before: new Date(ctx.clock.now() + ctx.retryDelay(errors)), updated_at: new Date() }
          : { last_error: text, updated_at: new Date() },
      )
      .where('id', '=', incident.id)
      .execute();
  }, [createDomainEvent('recovery.step-failed', { subject, correlationId: incident.id, reason: outside ? `${text}; retried with backoff` : text, data: { incidentId: incident.id, step: step.kind as RecoveryStep, attempt: step.attempt, error: text } })]);
  ctx.logger.warn({ err: error, incident: incident.id, step: step.kind, outside }, 'recovery step failed');
}

/**
 * Restarts the whole deployable: stops every assembly in reverse dependency order (each VM
 * terminated and confirmed), then hands the launches to the planner, which starts them in waves;
 * the step is concluded when all run again ({@link concludeRestart}).
 */
async function restartDeployable(ctx: ActionContext, incident: IncidentRow, step: StepRow): Promise<void> {
  const { deployable, journal } = ctx;
  const subject = incidentSubject(ctx, incident, undefined);
  try {
    const assemblies = await assembliesOf(ctx.db, deployable.id);
    const byName = new Map(assemblies.map((assembly) => [assembly.name, assembly]));
    for (const wave of [...launchOrder(deployable.manifest)].reverse()) {
      await Promise.all(
        wave.map(async (name) => {
          const assembly = byName.get(name);
          if (assembly?.instance_id == null) return;
          const instanceId = assembly.instance_id;
          ctx.onAction?.(incident);
          const fence = await ctx.hands.fence(deployable.cloud, instanceId, ctx.signal);
          await journal.write('recording a stopped assembly', async (trx) => {
            await trx.updateTable('assemblies').set({ phase: 'absent', instance_id: null, boot_id: null, spec_hash: null, updated_at: new Date() }).where('id', '=', assembly.id).execute();
          }, () => [
            createDomainEvent('assembly.fenced', { subject: subjectOf(deployable, assembly), correlationId: incident.id, reason: 'stopped for a restart of the whole deployable', data: { instanceId, action: fence.action, confirmedBy: fence.confirmedBy, cloudStatus: fence.cloudStatus, incidentId: incident.id } }),
            createDomainEvent('assembly.stopped', { subject: subjectOf(deployable, assembly), correlationId: incident.id, reason: 'stopped for a restart of the whole deployable', data: { instanceId } }),
          ]);
        }),
      );
    }
    await journal.advance(step, { state: 'verifying', detail: { stage: 'starting' }, acted: true }, async (trx) => {
      await trx.updateTable('assemblies').set({ phase: 'absent', updated_at: new Date() }).where('deployable_id', '=', deployable.id).where('phase', 'in', ['failed', 'stopped', 'running', 'booting']).where('instance_id', 'is', null).execute();
    });
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    await failRung(ctx, incident, step, subject, error);
  }
}

/** Ends a deployable restart: every assembly runs again (recovered), or one did not come back (failed: the policy chooses next). */
export async function concludeRestart(ctx: ActionContext, step: StepRow, outcome: 'succeeded' | 'failed', error?: string): Promise<void> {
  const incident = step.incident_id === null ? undefined : await incidentById(ctx.db, step.incident_id);
  if (incident === undefined) {
    await ctx.journal.advance(step, { state: outcome, ...(error === undefined ? {} : { error }) });
    return;
  }
  const subject = incidentSubject(ctx, incident, undefined);
  if (outcome === 'failed') {
    await failRung(ctx, incident, step, subject, new VerificationFailed('timeout', error ?? 'the deployable did not come back'));
    return;
  }
  await ctx.journal.advance(step, { state: 'succeeded' }, (trx) => closeIncident(trx, incident, 'recovered'), [
    createDomainEvent('recovery.step-succeeded', { subject, correlationId: incident.id, reason: 'every assembly runs again', data: { incidentId: incident.id, step: 'restart-deployable', attempt: step.attempt } }),
    createDomainEvent('incident.resolved', { subject, correlationId: incident.id, reason: 'the deployable was restarted', data: { incidentId: incident.id, outcome: 'recovered' } }),
  ]);
  // Incidents folded into the restart are over too: their assemblies were replaced.
  await ctx.journal.write('closing incidents folded into a restart', async (trx) => {
    const folded = await trx.selectFrom('incidents').selectAll().where('deployable_id', '=', ctx.deployable.id).where('status', '<>', 'closed').execute();
    for (const other of folded) await closeIncident(trx, other, 'recovered');
    return folded;
  }, (folded) => folded.map((other) => createDomainEvent('incident.resolved', { subject: subjectOf(ctx.deployable), correlationId: other.id, reason: 'the deployable was restarted', data: { incidentId: other.id, outcome: 'recovered' } })));
}

/** Closes incidents of a deployable that should no longer run. */
export async function cancelIncidents(ctx: ActionContext, incidents: readonly IncidentRow[]): Promise<void> {
  if (incidents.length === 0) return;
  await ctx.journal.write('cancelling incidents', async (trx) => {
    for (const incident of incidents) await closeIncident(trx, incident, 'cancelled');
  }, () => incidents.map((incident) => createDomainEvent('incident.resolved', { subject: subjectOf(ctx.deployable), correlationId: incident.id, reason: `the deployable is ${ctx.deployable.desired === 'deleted' ? 'deleted' : 'stopped'}`, data: { incidentId: incident.id, outcome: 'cancelled' } })));
}

// ---------------------------------------------------------------------------------------------
// Reconfiguration
// ---------------------------------------------------------------------------------------------

/** Gives a resource the current addresses its parameters reference, through its agent, and records it. */
export async function reconfigure(ctx: ActionContext, reconfiguration: ReconfigurationRow, resumed?: StepRow): Promise<void> {
  const { deployable, journal } = ctx;
  const assemblies = await assembliesOf(ctx.db, deployable.id);
  const assembly = assemblies.find((candidate) => candidate.id === reconfiguration.assembly_id);
  const spec = assembly === undefined ? undefined : specOf(deployable.manifest, assembly.name);
  const resourceSpec = spec?.resources.find((resource) => resource.name === reconfiguration.resource);
  const forget = () => journal.write('dropping a reconfiguration', (trx) => trx.deleteFrom('reconfigurations').where('assembly_id', '=', reconfiguration.assembly_id).where('resource', '=', reconfiguration.resource).execute());
  if (assembly === undefined || resourceSpec === undefined) {
    await forget();
    return;
  }
  const lookup = addressesLookup(assemblies);
  const { params, unresolved } = resolveParams(resourceSpec.params, lookup);
  const subject = subjectOf(deployable, assembly, resourceSpec.name);
  const attempts = reconfiguration.attempts + 1;
  if (unresolved.length > 0) {
    await journal.write('waiting for an address', (trx) =>
      // An address that never comes (an assembly without a network) is waited for with a growing backoff, the reason on record.
      trx.updateTable('reconfigurations').set({ not_before: new Date(ctx.clock.now() + ctx.retryDelay(attempts)), attempts, last_error: `waiting for the address of ${unresolved.map((ref) => ref.ref).join(', ')}` }).where('assembly_id', '=', reconfiguration.assembly_id).where('resource', '=', reconfiguration.resource).execute(),
    );
    return;
  }
  const step =
    resumed ??
    (await journal.intend({
      deployable_id: deployable.id,
      assembly_id: assembly.id,
      resource_id: subject.resourceId ?? null,
      kind: 'reconfigure',
      attempt: attempts,
      action: 'reconfigure',
      action_id: randomUUID(),
      command_id: randomUUID(),
      reason: 'an address it references changed',
      detail: JSON.stringify({ resource: resourceSpec.name, params }),
    }));
  const references = Object.entries(resourceSpec.params).flatMap(([name, value]) => {
    if (typeof value === 'string') return [];
    const resolved = addressForField(lookup(value.ref) ?? [], value.field);
    return resolved === undefined ? [] : [{ name, ref: value.ref, field: value.field, value: resolved }];
  });
  try {
    ctx.onAction?.(undefined);
    await ctx.hands.reconfigure(assembly.id, resourceSpec.name, (step.detail.params as Record<string, string> | undefined) ?? params, step.command_id ?? randomUUID());
    await journal.advance(step, { state: 'succeeded', acted: true }, async (trx) => {
      await trx.deleteFrom('reconfigurations').where('assembly_id', '=', reconfiguration.assembly_id).where('resource', '=', reconfiguration.resource).execute();
    }, references.length === 0 ? [] : [createDomainEvent('resource.reconfigured', { subject: subject as Required<AssemblyScope>, correlationId: reconfiguration.cause_event_id ?? step.id, reason: `${resourceSpec.name} was given the new address`, data: { parameters: references, ...(reconfiguration.cause_event_id === null ? {} : { causeEventId: reconfiguration.cause_event_id }) } })]);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    const text = errorText(error);
    await journal.advance(step, { state: 'failed', error: text, acted: true }, async (trx) => {
      if (attempts >= MAX_RECONFIGURE_ATTEMPTS) {
        await trx.deleteFrom('reconfigurations').where('assembly_id', '=', reconfiguration.assembly_id).where('resource', '=', reconfiguration.resource).execute();
        await raiseIncident(trx, ctx, subject, { type: 'assembly.address-changed', kind: 'resource-failed', detail: text }, `reconfiguring ${resourceSpec.name} failed ${MAX_RECONFIGURE_ATTEMPTS} times: ${text}`);
      } else {
        await trx.updateTable('reconfigurations').set({ attempts, not_before: new Date(ctx.clock.now() + ctx.retryDelay(attempts)), last_error: text }).where('assembly_id', '=', reconfiguration.assembly_id).where('resource', '=', reconfiguration.resource).execute();
      }
    });
  }
}

/** Resumes an unfinished step where it stopped. */
export async function resume(ctx: ActionContext, step: StepRow): Promise<void> {
  const kind: StepKind = step.kind;
  const assembly = step.assembly_id === null ? undefined : await assemblyById(ctx.db, step.assembly_id);
  const incident = step.incident_id === null ? undefined : await incidentById(ctx.db, step.incident_id);
  switch (kind) {
    case 'launch':
      if (assembly === undefined) return ctx.journal.advance(step, { state: 'failed', error: 'the assembly is gone' });
      return launch(ctx, assembly, { step });
    case 'stop':
      if (assembly === undefined) return ctx.journal.advance(step, { state: 'succeeded' });
      return stop(ctx, assembly, step.detail.remove === true, step);
    case 'reconfigure': {
      const row = assembly === undefined ? undefined : await ctx.db.selectFrom('reconfigurations').selectAll().where('assembly_id', '=', assembly.id).where('resource', '=', String(step.detail.resource)).executeTakeFirst();
      if (row === undefined) return ctx.journal.advance(step, { state: 'failed', error: 'nothing left to reconfigure' });
      return reconfigure(ctx, row, step);
    }
    case 'fence':
      return ctx.journal.advance(step, { state: 'failed', error: 'a fence is resumed as part of its recreate' });
    case 'restart-resource':
    case 'reboot':
    case 'hard-reboot':
    case 'recreate':
    case 'restart-deployable':
      if (incident === undefined || incident.status === 'closed') return ctx.journal.advance(step, { state: 'failed', error: 'its incident is closed' });
      return runRung(ctx, incident, step);
  }
}

