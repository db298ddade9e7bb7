/**
 * The escalation ladder: what recovery does next about an incident, given the policy, the step
 * journal and what the VM looks like now. Pure and clock-injected — no I/O, no `Date.now`: the
 * caller describes the VM, reads the journal and passes the time, and journals what it is told
 * (the skipped rungs included, so they are not considered again).
 *
 * The rungs, lowest first:
 * 1. `restart-resource` — a resource incident restarts its resource through the agent, at most
 *    `maxRestarts` times within the resource window (any incident of that resource counts);
 * 2. the assembly's `ladder` (`reboot`, `hard-reboot`, `recreate`, as the manifest orders them),
 *    at most `maxRecoveries` rungs within the assembly window (any incident of that assembly),
 *    each rung once per incident, rungs that cannot help this failure skipped with the reason; once
 *    every rung was tried, the last one is tried again while recoveries are left (a recreate whose
 *    new VM failed to boot may work on the next one), and never again after the deployable restarted;
 * 3. `restart-deployable`, at most `maxFailures` times within the deployable window;
 * 4. `give-up`.
 *
 * Windows slide: a past step counts while `now - at < windowMs`. Skipped steps never count against
 * a budget; steps still under way count like finished ones (they were taken).
 */
import { formatDuration, type AssemblyFailureKind, type AssemblyRecoveryStep, type IncidentLevel, type RecoveryStep } from '@defib/contracts';
import type { InstanceHealth, InstanceState } from '@defib/clouds';

/** The incident's thing's escalation settings, as the manifest gives them (see `@defib/contracts` manifest). */
export interface EscalationPolicy {
  /** The failing resource's restart budget; present for resource incidents. */
  resource?: { maxRestarts: number; windowMs: number };
  assembly: { maxRecoveries: number; windowMs: number; ladder: readonly AssemblyRecoveryStep[] };
  deployable: { maxFailures: number; windowMs: number };
}

/** A ladder step already taken (from the step journal), for this incident or an earlier one of the same thing. */
export interface PastStep {
  kind: RecoveryStep;
  outcome: 'succeeded' | 'failed' | 'skipped' | 'under-way';
  /** Epoch ms it was started. */
  at: number;
  incidentId: string;
  assemblyId?: string;
  resourceId?: string;
}

/** What is known of the VM right now (recovery describes it before choosing a rung); `unknown` when the cloud could not be asked. */
export interface VmCondition {
  state: InstanceState | 'gone' | 'unknown';
  health?: InstanceHealth;
}

/** The incident and what is known of its failure and its VM. */
export interface Observation {
  incident: { id: string; level: IncidentLevel; openedAt: number; assemblyId?: string; resourceId?: string };
  /** The monitor's failure kind for assembly incidents; 'resource-failed' for resource incidents; undefined when unknown. */
  failure?: AssemblyFailureKind | 'resource-failed';
  vm: VmCondition;
}

/** What is asked of the cloud for a reboot rung: the rung names the intent, the action what the VM's condition allows. */
export type CloudAction = 'reboot-soft' | 'reboot-hard' | 'start';

/** A rung passed over because it cannot help this failure; journaled as a skipped step. */
export interface SkippedRung {
  step: RecoveryStep;
  reason: string;
}

/**
 * What to do next. `attempt` is 1 for the first step of its kind in the incident; `skipped` lists
 * the rungs passed over on the way (to be journaled before acting); `reason` is for people — it
 * ends up in the incident's timeline and events.
 */
export type NextStep =
  | { do: 'restart-resource'; attempt: number; reason: string }
  | { do: 'reboot' | 'hard-reboot'; action: CloudAction; attempt: number; reason: string; skipped: SkippedRung[] }
  | { do: 'recreate'; attempt: number; reason: string; skipped: SkippedRung[] }
  | { do: 'restart-deployable'; attempt: number; reason: string; skipped: SkippedRung[] }
  /** The cloud is already changing the VM: look again at `until`. */
  | { do: 'wait'; until: number; reason: string }
  | { do: 'give-up'; reason: string; stepsTried: RecoveryStep[] };

/** How long a VM the cloud is changing (pending, rebooting, stopping) is waited for, from the incident's opening, before it counts as in error. */
export const defaultSettleMs = 60_000;
/** How soon a VM the cloud is changing is looked at again. */
const waitMs = 1_000;

/** Everything one decision reads. */
interface Decision {
  policy: EscalationPolicy;
  history: readonly PastStep[];
  observation: Observation;
  now: number;
  settleMs: number;
}

/**
 * Chooses the next rung of the escalation ladder for an incident. Deterministic: the same inputs
 * give the same answer, and nothing passed in is changed.
 *
 * @param history the journal's ladder steps of this deployable (every incident of it: the budgets
 *   span incidents).
 * @param now epoch ms; windows and the settle time are measured from it.
 * @param options.settleMs how long a VM the cloud is changing is waited for (default {@link defaultSettleMs}).
 */
export function nextStep(policy: EscalationPolicy, history: readonly PastStep[], observation: Observation, now: number, options: { settleMs?: number } = {}): NextStep {
  const decision: Decision = { policy, history, observation, now, settleMs: options.settleMs ?? defaultSettleMs };
  switch (observation.incident.level) {
    case 'resource':
      return restartResource(decision);
    case 'assembly':
      return climbLadder(decision, [], undefined);
    case 'deployable':
      return restartDeployable(decision, [], undefined);
  }
}

/** The kinds of the steps taken in an incident (skipped ones left out), in the order they were started. */
export function ladderStepsTried(history: readonly PastStep[], incidentId: string): RecoveryStep[] {
  return history
    .filter((step) => step.incidentId === incidentId && step.outcome !== 'skipped')
    .sort((a, b) => a.at - b.at)
    .map((step) => step.kind);
}

/** Rule 1: restart the resource while its budget lasts and its VM runs; else the assembly's ladder. */
function restartResource(decision: Decision): NextStep {
  const { policy, history, observation, now } = decision;
  const { resourceId } = observation.incident;
  const resource = `resource ${resourceId ?? '(unknown)'}`;
  const { state } = observation.vm;
  if (state !== 'running' && state !== 'unknown') {
    const skipped: SkippedRung = { step: 'restart-resource', reason: `the VM is ${state}` };
    return climbLadder(decision, [skipped], `${resource} cannot be restarted while the VM is ${state}: the assembly is recovered`);
  }
  if (policy.resource === undefined) return climbLadder(decision, [], `${resource} has no restart budget: the assembly is recovered`);
  const { maxRestarts, windowMs } = policy.resource;
  const restarts = countWithin(history, now, windowMs, (step) => step.kind === 'restart-resource' && sameThing(step.resourceId, resourceId));
  const window = formatDuration(windowMs);
  if (restarts >= maxRestarts) return climbLadder(decision, [], `${restarts} restarts of ${resource} within ${window}: the assembly is recovered`);
  return { do: 'restart-resource', attempt: attemptOf(decision, 'restart-resource'), reason: `restarting ${resource} (${restarts + 1} of at most ${maxRestarts} restarts within ${window})` };
}

/** Rules 2 and 3: the first rung of the ladder not yet taken or skipped in this incident that can help; the deployable when none is left. */
function climbLadder(decision: Decision, skipped: SkippedRung[], because: string | undefined): NextStep {
  const { policy, history, observation, now, settleMs } = decision;
  const { id: incidentId, assemblyId, openedAt } = observation.incident;
  const { maxRecoveries, windowMs, ladder } = policy.assembly;
  const recoveries = countWithin(history, now, windowMs, (step) => isAssemblyRung(step.kind) && sameThing(step.assemblyId, assemblyId));
  if (recoveries >= maxRecoveries) {
    return restartDeployable(decision, skipped, joinReasons(because, `${recoveries} recoveries of assembly ${assemblyId ?? '(unknown)'} within ${formatDuration(windowMs)}: escalated to the deployable`));
  }
  const remaining = ladder.filter((rung) => !history.some((step) => step.incidentId === incidentId && step.kind === rung));
  let vm = observation.vm;
  let why = because;
  if (remaining.length > 0 && isChanging(vm.state)) {
    if (now - openedAt <= settleMs) {
      return { do: 'wait', until: now + waitMs, reason: joinReasons(because, `the VM is ${vm.state}: the cloud is already changing it`) };
    }
    vm = { ...vm, state: 'error' };
    why = joinReasons(because, `the VM is still ${observation.vm.state} more than ${formatDuration(settleMs)} after the incident opened: it counts as in error`);
  }
  const passedOver: SkippedRung[] = [];
  const reasonFor = (own: string): string => joinReasons(why, ...unique(passedOver.map((rung) => rung.reason)), own);
  for (const rung of remaining) {
    if (rung === 'recreate') {
      return { do: 'recreate', attempt: attemptOf(decision, rung), reason: reasonFor('recreating the VM (the old one fenced first)'), skipped: [...skipped, ...passedOver] };
    }
    const plan = planReboot(rung, vm, observation.failure);
    if (plan.skip) {
      passedOver.push({ step: rung, reason: plan.reason });
      continue;
    }
    return { do: rung, action: plan.action, attempt: attemptOf(decision, rung), reason: reasonFor(plan.reason), skipped: [...skipped, ...passedOver] };
  }
  // Every rung was tried and the assembly still has recoveries left: its last rung is tried again
  // (a recreate whose new VM failed to boot may work on the next VM); the deployable is restarted
  // only once the assembly's recoveries are used up, or when the last rung cannot help.
  const last = ladder.at(-1);
  const taken = (kind: RecoveryStep) => history.some((step) => step.incidentId === incidentId && step.kind === kind && step.outcome !== 'skipped');
  if (remaining.length === 0 && last !== undefined && taken(last) && !taken('restart-deployable')) {
    if (last === 'recreate') return { do: 'recreate', attempt: attemptOf(decision, last), reason: reasonFor(`trying the last rung again (${recoveries + 1} of at most ${maxRecoveries} recoveries within ${formatDuration(windowMs)}): recreating the VM (the old one fenced first)`), skipped };
    const again = planReboot(last, vm, observation.failure);
    if (!again.skip) return { do: last, action: again.action, attempt: attemptOf(decision, last), reason: reasonFor(`trying the last rung again (${recoveries + 1} of at most ${maxRecoveries} recoveries within ${formatDuration(windowMs)}): ${again.reason}`), skipped };
  }
  const exhausted = remaining.length === 0 ? `every rung of the ladder (${ladder.join(', ')}) was tried in this incident and the last cannot help` : `no rung left of the ladder (${ladder.join(', ')}) can help`;
  return restartDeployable(decision, [...skipped, ...passedOver], reasonFor(`${exhausted}: escalated to the deployable`));
}

/** Rule 4: restart the deployable while its budget lasts; else give up. */
function restartDeployable(decision: Decision, skipped: SkippedRung[], because: string | undefined): NextStep {
  const { policy, history, observation, now } = decision;
  const { maxFailures, windowMs } = policy.deployable;
  const restarts = countWithin(history, now, windowMs, (step) => step.kind === 'restart-deployable');
  const window = formatDuration(windowMs);
  if (restarts >= maxFailures) {
    return { do: 'give-up', reason: joinReasons(because, `${restarts} restarts of the deployable within ${window}: giving up`), stepsTried: ladderStepsTried(history, observation.incident.id) };
  }
  const reason = joinReasons(because, `restarting the deployable (${restarts + 1} of at most ${maxFailures} restarts within ${window})`);
  return { do: 'restart-deployable', attempt: attemptOf(decision, 'restart-deployable'), reason, skipped };
}

/** What a reboot rung becomes for the VM's condition and the failure: a cloud action, or a skip with the reason it cannot help. */
type RebootPlan = { skip: false; action: CloudAction; reason: string } | { skip: true; reason: string };

/** Rule 3's mapping of `reboot` and `hard-reboot`, in the order its cases take precedence. */
function planReboot(rung: 'reboot' | 'hard-reboot', vm: VmCondition, failure: Observation['failure']): RebootPlan {
  const soft = rung === 'reboot';
  const act = (action: CloudAction, reason: string): RebootPlan => ({ skip: false, action, reason });
  const skip = (reason: string): RebootPlan => ({ skip: true, reason });
  if (vm.state === 'gone' || vm.state === 'terminated' || vm.state === 'terminating') return skip(`the VM is ${vm.state}: only a new VM helps`);
  if (vm.health?.system === 'impaired') return skip('its host failed: only a new VM on another host helps');
  if (vm.state === 'stopped') return act('start', 'the VM is stopped: starting it');
  if (vm.state === 'error') return act('reboot-hard', soft ? 'a VM in error takes no soft reboot: rebooting it hard' : 'the VM is in error: rebooting it hard');
  if (failure === 'hung') return soft ? skip('a hung guest does not answer a soft reboot') : act('reboot-hard', 'the guest hung: rebooting it hard');
  if (failure === 'hung-or-partitioned' && vm.state === 'running' && vm.health?.instance === 'ok') {
    return skip('the guest answers its host, so its agent is cut off: a reboot does not reconnect it');
  }
  if (failure === 'boot-failed' && soft) return skip('it never booted: a soft reboot needs a running guest');
  return soft ? act('reboot-soft', 'rebooting the VM') : act('reboot-hard', 'rebooting the VM hard');
}

/** The cloud is already changing the VM: acting on it now would race the cloud. */
function isChanging(state: VmCondition['state']): boolean {
  return state === 'pending' || state === 'rebooting' || state === 'stopping';
}

function isAssemblyRung(kind: RecoveryStep): boolean {
  return kind === 'reboot' || kind === 'hard-reboot' || kind === 'recreate';
}

/** Steps that match and count against a budget: taken (not skipped) within the sliding window. */
function countWithin(history: readonly PastStep[], now: number, windowMs: number, matches: (step: PastStep) => boolean): number {
  return history.filter((step) => step.outcome !== 'skipped' && now - step.at < windowMs && matches(step)).length;
}

/** 1 for the first step of its kind taken (not skipped) in this incident. */
function attemptOf(decision: Decision, kind: RecoveryStep): number {
  const incidentId = decision.observation.incident.id;
  return decision.history.filter((step) => step.incidentId === incidentId && step.kind === kind && step.outcome !== 'skipped').length + 1;
}

/** A step is about the incident's thing only when both name it: an unknown id matches nothing. */
function sameThing(stepId: string | undefined, incidentId: string | undefined): boolean {
  return incidentId !== undefined && stepId === incidentId;
}

function joinReasons(...parts: (string | undefined)[]): string {
  return parts.filter((part) => part !== undefined).join('; ');
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
