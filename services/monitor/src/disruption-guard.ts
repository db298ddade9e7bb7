/**
 * Never start a recovery storm on a monitoring fault. When a large share of one cloud's (or one
 * zone's) assemblies fall silent together, the likelier story is that the path from them to the
 * monitor broke (a broker, a network link, a NAT), not that they all died; so their silence
 * verdicts are held until something that does not travel that path says otherwise.
 *
 * The anchor is Kubernetes' node lifecycle controller: a zone with ≥ 55 % of its nodes NotReady
 * is unhealthy, evictions there slow from 0.1 to 0.01 nodes/s (to 0 in zones of ≤ 50 nodes), and
 * stop entirely when every zone is disrupted. This guard is at least that careful and faster:
 *
 * - a **group** (`<cloud>` or `<cloud>/<zone>`) is *disrupted* when at least `threshold` of its
 *   assemblies expected to beat are silent, and stays so until the share falls below
 *   `healThreshold` (a little lower), so it does not flap at the threshold;
 * - in a healthy group a verdict is judged at once; in a disrupted one it is held, and each held
 *   assembly is **confirmed once per episode** (the service pings its agent and asks the cloud);
 * - confirmed `failed` (the cloud saw it stopped, in error, gone or impaired) is judged at once:
 *   a host failure that turns 50 VMs to ERROR is still recovered in seconds, where Kubernetes
 *   would evict one every 100 s;
 * - confirmed `alive` (the agent answered the ping) stays held: the agent lives, only its
 *   heartbeat path failed, and the detector keeps it suspect until beats resume;
 * - `unknown` stays held and is released like Kubernetes' evictions: `releasePerSecond` (a token
 *   bucket that starts empty when the group is disrupted) in groups of more than `largeGroupSize`,
 *   never in smaller groups, and never while every group with members is disrupted;
 * - when the group heals, held verdicts are judged normally.
 *
 * Groups of fewer than `minGroupSize` assemblies are never disrupted: one or two silent VMs say
 * nothing about the path that a dead VM would not say too, and a two-VM cloud losing both is a
 * real failure to recover. The monitor's own failure (every cloud silent) is the self-lag guard's.
 *
 * Pure and clock-injected; `gate` is synchronous and cheap (a map look-up), for the detector's hot path.
 */
import type { Clock } from '@defib/platform';
import type { AssemblyLiveness, VerdictGate } from './watch.ts';

/** What the service must confirm for a held assembly: ping its agent and look the VM up in its cloud. */
export interface ConfirmationRequest {
  readonly assemblyId: string;
  readonly cloud: string;
  readonly instanceId: string | undefined;
}

/**
 * The answer to a {@link ConfirmationRequest}:
 * - `failed`: the cloud says the VM is stopped, in error, gone or impaired;
 * - `alive`: the agent answered the ping (the heartbeat path failed, not the VM);
 * - `unknown`: neither, including a failed ping while the cloud says the VM runs or could not be
 *   asked. A failed ping is *not* `failed`: in a disrupted group the ping travels the very path
 *   that is suspect, so only the cloud's own view, which does not, can turn a suspicion into a failure.
 */
export type ConfirmationOutcome = 'failed' | 'alive' | 'unknown';

/** One group's standing, as `groups()` lists it and `onChange` announces it. */
export interface GroupStanding {
  readonly group: string;
  readonly disrupted: boolean;
  readonly silent: number;
  readonly expected: number;
}

/** The verdict gate's answer: `judge` now, or `hold` and ask again after `recheckMs`. */
export type GateDecision = ReturnType<VerdictGate>;

export interface DisruptionGuardOptions {
  readonly clock: Clock;
  /** Share of a group's assemblies expected to beat that, silent, makes it disrupted. Default 0.55 (Kubernetes). */
  readonly threshold?: number;
  /** A disrupted group heals when its silent share falls below this. Default `threshold − 0.1`. */
  readonly healThreshold?: number;
  /** Groups with fewer assemblies expected to beat are never disrupted. Default 3. */
  readonly minGroupSize?: number;
  /** Unconfirmed verdicts let through per second in a disrupted group of more than `largeGroupSize`. Default 0.01 (Kubernetes). */
  readonly releasePerSecond?: number;
  /** Groups of at most this many assemblies release no unconfirmed verdict while disrupted. Default 50 (Kubernetes). */
  readonly largeGroupSize?: number;
  /** How soon a held verdict is asked again. Default 500. */
  readonly recheckMs?: number;
  /**
   * Asks the service to confirm an assembly (ping and cloud look-up); called once per assembly
   * per episode, from within `gate`. The answer must come back through `confirmed`, always, if
   * only as `unknown` on a timeout: an assembly whose answer never comes stays held.
   */
  readonly confirm: (request: ConfirmationRequest) => void;
  /** Called when a group becomes disrupted or heals. */
  readonly onChange?: (change: GroupStanding) => void;
  /**
   * The monitor's own health (the self-lag guard). While it is degraded, every group counts as
   * disrupted and none releases unconfirmed verdicts, but a confirmed failure is still judged:
   * the cloud's answer does not depend on the heartbeat path that the monitor cannot vouch for.
   */
  readonly monitor?: { readonly degraded: boolean };
}

/** The defaults of {@link DisruptionGuardOptions}: Kubernetes' node lifecycle controller's where it has one. */
export const disruptionDefaults = {
  threshold: 0.55,
  minGroupSize: 3,
  releasePerSecond: 0.01,
  largeGroupSize: 50,
  recheckMs: 500,
} as const;

interface Group {
  expected: number;
  silent: number;
  disrupted: boolean;
  /** Unconfirmed releases available (at most one: releases are spaced, never bunched). */
  tokens: number;
  refilledAt: number;
}

/** A held assembly in one silence episode: the same VM, silent since the same beat. */
interface Held {
  readonly group: string;
  readonly instanceId: string | undefined;
  readonly lastBeatAt: number | undefined;
  outcome: ConfirmationOutcome | undefined;
}

/** Decides, per cloud or zone, whether an assembly's silence verdict may be given now (see the module comment). */
export class DisruptionGuard {
  readonly #clock: Clock;
  readonly #threshold: number;
  readonly #healThreshold: number;
  readonly #minGroupSize: number;
  readonly #releasePerSecond: number;
  readonly #largeGroupSize: number;
  readonly #hold: GateDecision;
  readonly #confirm: (request: ConfirmationRequest) => void;
  readonly #onChange: ((change: GroupStanding) => void) | undefined;
  readonly #monitor: { readonly degraded: boolean } | undefined;

  readonly #groups = new Map<string, Group>();
  readonly #held = new Map<string, Held>();
  /** Groups with assemblies expected to beat, and how many of those are disrupted. */
  #populated = 0;
  #disruptedCount = 0;

  constructor(options: DisruptionGuardOptions) {
    this.#clock = options.clock;
    this.#threshold = options.threshold ?? disruptionDefaults.threshold;
    this.#healThreshold = options.healThreshold ?? this.#threshold - 0.1;
    this.#minGroupSize = options.minGroupSize ?? disruptionDefaults.minGroupSize;
    this.#releasePerSecond = options.releasePerSecond ?? disruptionDefaults.releasePerSecond;
    this.#largeGroupSize = options.largeGroupSize ?? disruptionDefaults.largeGroupSize;
    this.#hold = { verdict: 'hold', recheckMs: options.recheckMs ?? disruptionDefaults.recheckMs };
    this.#confirm = options.confirm;
    this.#onChange = options.onChange;
    this.#monitor = options.monitor;
  }

  /**
   * A group's membership and silence (from the detector's counts per group): how many of its
   * assemblies are expected to beat, and how many of those are silent now. Call when an
   * assembly's liveness state changes.
   */
  update(group: string, expected: number, silent: number): void {
    let standing = this.#groups.get(group);
    if (standing === undefined) {
      standing = { expected: 0, silent: 0, disrupted: false, tokens: 0, refilledAt: 0 };
      this.#groups.set(group, standing);
    }
    if (standing.expected === 0 && expected > 0) this.#populated += 1;
    if (standing.expected > 0 && expected === 0) this.#populated -= 1;
    standing.expected = expected;
    standing.silent = silent;

    const share = expected > 0 ? silent / expected : 0;
    const disrupted = expected >= this.#minGroupSize && reaches(share, standing.disrupted ? this.#healThreshold : this.#threshold);
    if (disrupted !== standing.disrupted) {
      standing.disrupted = disrupted;
      this.#disruptedCount += disrupted ? 1 : -1;
      if (disrupted) {
        standing.tokens = 0;
        standing.refilledAt = this.#clock.now();
      } else this.#endEpisodes(group);
      this.#onChange?.({ group, disrupted, silent, expected });
    }
    if (expected === 0 && !disrupted) this.#groups.delete(group);
  }

  /**
   * The verdict gate for one assembly of `group`: `judge` if the group is healthy or the assembly
   * is confirmed failed (or released by the group's rate); `hold` otherwise, asking for its
   * confirmation the first time in this episode.
   */
  gate(liveness: AssemblyLiveness, group: string, now: number): GateDecision {
    const assemblyId = liveness.spec.assemblyId;
    const standing = this.#groups.get(group);
    const monitorDegraded = this.#monitor?.degraded === true;
    if (!monitorDegraded && standing?.disrupted !== true) {
      this.#held.delete(assemblyId);
      return judge;
    }

    let held = this.#held.get(assemblyId);
    if (held === undefined || held.instanceId !== liveness.instanceId || held.lastBeatAt !== liveness.lastBeatAt) {
      held = { group, instanceId: liveness.instanceId, lastBeatAt: liveness.lastBeatAt, outcome: undefined };
      this.#held.set(assemblyId, held);
      this.#confirm({ assemblyId, cloud: liveness.spec.cloud, instanceId: liveness.instanceId });
    }

    switch (held.outcome) {
      case 'failed':
        this.#held.delete(assemblyId);
        return judge;
      case 'unknown':
        if (!monitorDegraded && standing !== undefined && this.#release(standing, now)) {
          this.#held.delete(assemblyId);
          return judge;
        }
        return this.#hold;
      case 'alive':
      case undefined:
        return this.#hold;
    }
  }

  /** The answer to a confirmation asked by `gate`; ignored if the assembly is no longer held. */
  confirmed(assemblyId: string, outcome: ConfirmationOutcome): void {
    const held = this.#held.get(assemblyId);
    if (held !== undefined) held.outcome = outcome;
  }

  /** The assembly is no longer watched (or its silence episode ended): drop what was held for it. */
  forget(assemblyId: string): void {
    this.#held.delete(assemblyId);
  }

  /** Whether the group is disrupted now (its unconfirmed verdicts are held). */
  disrupted(group: string): boolean {
    return this.#groups.get(group)?.disrupted === true;
  }

  /** Every group with members, for the liveness API and metrics. */
  groups(): GroupStanding[] {
    return [...this.#groups].map(([group, { disrupted, silent, expected }]) => ({ group, disrupted, silent, expected }));
  }

  /** Whether an unconfirmed verdict of this disrupted group may go through now (and takes the token if so). */
  #release(standing: Group, now: number): boolean {
    if (standing.expected <= this.#largeGroupSize || this.#releasePerSecond <= 0) return false;
    if (this.#disruptedCount >= this.#populated) return false;
    standing.tokens = Math.min(1, standing.tokens + (Math.max(0, now - standing.refilledAt) / 1000) * this.#releasePerSecond);
    standing.refilledAt = now;
    if (standing.tokens < 1) return false;
    standing.tokens -= 1;
    return true;
  }

  /** A group healed: its held assemblies are judged normally from now on (and confirmed afresh if it is disrupted again). */
  #endEpisodes(group: string): void {
    for (const [assemblyId, held] of this.#held) if (held.group === group) this.#held.delete(assemblyId);
  }
}

const judge: GateDecision = { verdict: 'judge' };

/** `share ≥ limit`, forgiving the float error of a limit like 0.55 − 0.1 (45 of 100 reach 45 %). */
function reaches(share: number, limit: number): boolean {
  return share >= limit - 1e-9;
}
