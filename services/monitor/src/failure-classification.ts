/**
 * What the cloud's word means for an assembly, given what its heartbeats say (issue 13, point 4).
 * Two signals are correlated: the detector's liveness (beats arrive, are late, or stopped) and the
 * cloud's view of the VM (running, impaired, stopped, error, gone). Neither alone is enough to call
 * a VM failed in a specific way; together they say which failure it is:
 *
 * | heartbeats                  | cloud says                    | conclusion                        |
 * | --------------------------- | ----------------------------- | --------------------------------- |
 * | silent (or still booting)   | stopped, error, terminated, gone | `failed`: crashed (boot-failed if it never beat) |
 * | silent                      | running, EC2 checks impaired  | `failed`: hung                    |
 * | silent                      | running and healthy           | nothing here: the detector's `unresponsive` (hung-or-partitioned) |
 * | arriving after the cloud said down | stopped, error, terminated, gone | `disputed`: report, do not act |
 * | arriving                    | anything else                 | nothing                           |
 *
 * Pure: no clock, no I/O; the caller passes the time.
 */
import type { CloudView, AssemblyLiveness, FailureKind, LivenessState } from './watch.ts';

/** What {@link classify} concludes from one assembly's liveness and its VM's cloud view. */
export type CloudVerdict =
  /** Nothing to say: the VM should not run, the view is about another VM or stale, or the two signals agree it runs. */
  | { readonly kind: 'none' }
  /** The VM should run and the cloud says it does not (or is impaired) while it is silent: `assembly.failed`. */
  | { readonly kind: 'failed'; readonly failure: FailureKind; readonly cloudStatus: string }
  /** Beats arrive although the cloud says the VM is down: `assembly.state-disputed`, never a failure. */
  | { readonly kind: 'disputed'; readonly cloudStatus: string };

const none: CloudVerdict = { kind: 'none' };

/** What the cloud's view says of the VM, in the terms the correlation needs. */
type CloudSays = 'down' | 'impaired' | 'runs' | 'in-transition';

function cloudSays(view: CloudView): CloudSays {
  switch (view.state) {
    case 'stopped':
    case 'error':
    case 'terminated':
    case 'gone':
      return 'down';
    case 'running':
      return isImpaired(view) ? 'impaired' : 'runs';
    // On the way down is not down: the stop or delete may be Defib's own (fencing before a
    // relaunch), and the poll that sees it finished gives the verdict. Booting, rebooting,
    // paused, suspended, rescued: states Defib does not judge.
    case 'stopping':
    case 'terminating':
    case 'pending':
    case 'rebooting':
    case 'other':
      return 'in-transition';
  }
}

function isImpaired(view: CloudView): boolean {
  return view.health?.instance === 'impaired' || view.health?.system === 'impaired';
}

/** How the heartbeats stand, in the terms the correlation needs. */
type BeatsSay = 'not-expected' | 'booting' | 'arriving' | 'late' | 'silent';

function beatsSay(state: LivenessState): BeatsSay {
  switch (state) {
    // Idle: no VM should run. Failed: already judged; a new VM or a new boot starts over.
    case 'idle':
    case 'failed':
      return 'not-expected';
    case 'booting':
      return 'booting';
    case 'alive':
      return 'arriving';
    case 'suspect':
      return 'late';
    case 'unresponsive':
      return 'silent';
  }
}

/**
 * Correlates one assembly's liveness with the cloud's view of its VM.
 *
 * Contract:
 * - `none` unless the VM should run (liveness `booting`, `alive`, `suspect` or `unresponsive`) and
 *   the view is about the assembly's current instance (a view of an old, fenced VM says nothing
 *   about the new one).
 * - A view observed before the latest beat is stale evidence and yields `none`: the VM beat after
 *   the cloud last looked, so it may have been started or rebooted since (recovery restarts a
 *   stopped VM under the same instance id), and the next poll will say. The cloud watch refreshes
 *   a view's `observedAt` on every poll that confirms it, so this lasts at most one poll interval.
 * - The cloud says down (stopped, error, terminated, gone): `failed` with `crashed`, or
 *   `boot-failed` when the VM never beat (no beat, or no boot id, since its launch), when the
 *   beats are late, silent, or not started yet (booting: a VM that is down will not boot).
 *   While beats still arrive (`alive`) the VM may just have crashed after its latest beat, and the
 *   detector will find it late within an interval: `none` until then, unless a beat was received
 *   more than one heartbeat interval after the cloud first said down (`stateSince`) and the cloud
 *   still said so after that beat. Then something beats that the cloud says cannot: `disputed`
 *   (also when the beats are only late; a silent VM whose beats stopped is `crashed`).
 * - Running with EC2's instance or system check impaired: `failed` with `hung` when the beats are
 *   late or silent; `none` while they arrive or the VM still boots (the boot grace decides).
 * - Running and healthy, or in transition (pending, rebooting, stopping, terminating, other):
 *   `none`; silence alone is the detector's `unresponsive` verdict ({@link describeSilence}).
 *
 * The time of judgement (`_now`) is not needed by these rules: freshness is judged against the
 * latest beat, not the clock. It stays in the signature for the desk, which always has it.
 */
export function classify(liveness: AssemblyLiveness, view: CloudView | undefined, _now: number): CloudVerdict {
  if (view === undefined || liveness.instanceId === undefined || view.instanceId !== liveness.instanceId) return none;
  const beats = beatsSay(liveness.state);
  if (beats === 'not-expected') return none;
  const lastBeatAt = liveness.lastBeatAt;
  if (lastBeatAt !== undefined && view.observedAt < lastBeatAt) return none;

  const says = cloudSays(view);
  switch (says) {
    case 'down':
      return downVerdict(liveness, view, beats);
    case 'impaired':
      return beats === 'late' || beats === 'silent' ? { kind: 'failed', failure: 'hung', cloudStatus: view.cloudStatus } : none;
    case 'runs':
    case 'in-transition':
      return none;
  }
}

function downVerdict(liveness: AssemblyLiveness, view: CloudView, beats: Exclude<BeatsSay, 'not-expected'>): CloudVerdict {
  const contradicted = beatAfterDown(liveness, view);
  switch (beats) {
    case 'arriving':
      return contradicted ? { kind: 'disputed', cloudStatus: view.cloudStatus } : none;
    case 'late':
      return contradicted ? { kind: 'disputed', cloudStatus: view.cloudStatus } : failed(liveness, view);
    case 'booting':
    case 'silent':
      return failed(liveness, view);
  }
}

/**
 * Whether a beat was received after the cloud first said the VM was down, by more than one
 * heartbeat interval: a beat merely delayed in delivery does not count, one sent by a VM the cloud
 * says is down does.
 */
function beatAfterDown(liveness: AssemblyLiveness, view: CloudView): boolean {
  const since = view.stateSince ?? view.observedAt;
  return liveness.lastBeatAt !== undefined && liveness.lastBeatAt > since + liveness.spec.intervalMs;
}

function failed(liveness: AssemblyLiveness, view: CloudView): CloudVerdict {
  return { kind: 'failed', failure: neverBeat(liveness) ? 'boot-failed' : 'crashed', cloudStatus: view.cloudStatus };
}

function neverBeat(liveness: AssemblyLiveness): boolean {
  return liveness.lastBeatAt === undefined || liveness.bootId === undefined;
}

/**
 * What the cloud says of a VM the detector found silent, for the `unresponsive` verdict's
 * `failure` and `cloudStatus`: running and healthy (or a cloud without health checks, like
 * OpenStack) → `hung-or-partitioned`, since from outside a hung guest and a cut-off agent look the
 * same; running with an impaired EC2 check → `hung`; stopped, error, terminated or gone →
 * `crashed` (`boot-failed` when `neverBeat`); in transition, or no view → no failure kind.
 * `cloudStatus` is the view's, or undefined without a view.
 */
export function describeSilence(view: CloudView | undefined, neverBeat = false): { failure: FailureKind | undefined; cloudStatus: string | undefined } {
  if (view === undefined) return { failure: undefined, cloudStatus: undefined };
  const says = cloudSays(view);
  switch (says) {
    case 'down':
      return { failure: neverBeat ? 'boot-failed' : 'crashed', cloudStatus: view.cloudStatus };
    case 'impaired':
      return { failure: 'hung', cloudStatus: view.cloudStatus };
    case 'runs':
      return { failure: 'hung-or-partitioned', cloudStatus: view.cloudStatus };
    case 'in-transition':
      return { failure: undefined, cloudStatus: view.cloudStatus };
  }
}
