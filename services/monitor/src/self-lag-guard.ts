/**
 * Distrust yourself before you distrust a VM. A monitor that falls behind sees every VM go
 * silent at once (an overloaded broker that delayed delivery by 8 s once made a naive detector
 * raise 10,667 false alarms), so the monitor watches four signals of its own health and holds
 * every silence verdict while any of them says it cannot vouch for what it sees:
 *
 * - **heartbeat lag**: how much later than usual beats arrive. VM clocks are skewed, so each
 *   assembly's `receivedAt − sentAt` is compared with its own smallest recent value (its clock
 *   offset plus the quickest transit), not with zero. The monitor's lag is a high quantile of
 *   those per-beat lags over a short window: the monitor's own lag delays every beat, while one
 *   agent's slow network or a VM clock stepped back delays only its own, so a quantile ignores
 *   them where a maximum would hold every verdict for them;
 * - **event-loop stalls**: a tick that ran much later than scheduled (also one of the guard's own
 *   evaluation ticks, and a tick that is overdue right now: verdict timers that ran first after a
 *   stall are held before the stall is even reported);
 * - **queue depth**: heartbeats waiting to be consumed;
 * - **mass silence**: a large share of every assembly expected to beat fell silent within one
 *   interval. Nothing above notices a path that simply stopped delivering (no beat, no lag), but
 *   thousands of independent VMs do not die in the same second. The signal latches: it lasts
 *   until heartbeats arrive again (and the share is back below the threshold), because a blocked
 *   path keeps them all silent long after they *fell* silent. If heartbeats keep arriving from
 *   elsewhere the monitor's intake works, and a silent cloud or zone is the
 *   disruption guard's matter, per group.
 *
 * Installations with fewer than `minExpected` assemblies expected to beat never trip the
 * silence signal: a one-VM installation whose only VM died shows 100 % silence, and that is a VM
 * failure; holding it would hide the one failure that matters there. A blocked path in a small
 * installation is still caught by the queue depth, and the recovery it may wrongly start is a
 * handful of VMs, not a storm.
 *
 * Degraded and recovered are announced once each: degraded as soon as one signal trips, recovered
 * only after every signal has been healthy for `settleMs` (so a backlog that drains in bursts does
 * not flap). Pure and clock-injected; `beat` is O(1) and allocates only for an assembly's first beat.
 */
import type { Clock, ScheduledTask } from '@defib/platform';

/** What {@link SelfLagGuard} announces: `monitor.degraded` and `monitor.recovered`. */
export type SelfLagChange =
  | { readonly degraded: true; readonly cause: 'lagging'; readonly lagMs: number; readonly detail: string }
  | { readonly degraded: false; readonly cause: 'lagging'; readonly degradedForMs: number };

export interface SelfLagGuardOptions {
  readonly clock: Clock;
  /** Lag (receive time − sentAt, after the per-assembly clock-offset baseline) above which the monitor is behind. Default 1000. */
  readonly maxLagMs?: number;
  /** A tick that ran this much later than scheduled counts as an event-loop stall. Default 1000. */
  readonly maxStallMs?: number;
  /** Heartbeats waiting in the monitor's queue above which it is behind (0 = ignore). Default 20 000. */
  readonly maxQueueDepth?: number;
  /**
   * Share (0..1) of the assemblies expected to beat that fell silent within one interval which
   * means the monitoring path failed, not the VMs. Default 0.55 (Kubernetes' `unhealthy-zone-threshold`).
   */
  readonly silentShare?: number;
  /** Fewer assemblies expected to beat than this never trip the silence signal (see the module comment). Default 3. */
  readonly minExpected?: number;
  /** How long every signal must be healthy again before `recovered`. Default 2000. */
  readonly settleMs?: number;
  /** Called once on entering degraded and once on recovering. */
  readonly onChange: (change: SelfLagChange) => void;
}

/** The defaults of {@link SelfLagGuardOptions}. */
export const selfLagDefaults = {
  maxLagMs: 1_000,
  maxStallMs: 1_000,
  maxQueueDepth: 20_000,
  silentShare: 0.55,
  minExpected: 3,
  settleMs: 2_000,
} as const;

/** How often the guard evaluates itself, so that recovery is noticed without beats. */
const tickMs = 100;
/** The lag is measured over tumbling windows of this length. */
const windowMs = 500;
/** An assembly's baseline is its smallest offset over the current and the previous period. */
const baselinePeriodMs = 30_000;
/** Windows with fewer beats than this use the median: a quantile of a handful is their maximum. */
const quantileMinSamples = 10;
const lagQuantile = 0.9;
/** The lag histogram's resolution; lags beyond the last bucket are reported as the window's maximum. */
const bucketMs = 50;
const bucketCount = 400;
/** At most this many assemblies have a baseline; beyond, new assemblies are not measured. */
const maxBaselines = 100_000;

/** One assembly's smallest `receivedAt − sentAt` in the current and in the previous period. */
interface Baseline {
  current: number;
  previous: number;
}

/** Knows whether this monitor process can vouch for its silence verdicts (see the module comment). */
export class SelfLagGuard {
  readonly #clock: Clock;
  readonly #maxLagMs: number;
  readonly #maxStallMs: number;
  readonly #maxQueueDepth: number;
  readonly #silentShare: number;
  readonly #minExpected: number;
  readonly #settleMs: number;
  readonly #onChange: (change: SelfLagChange) => void;

  readonly #baselines = new Map<string, Baseline>();
  #baselinePeriodStart: number;

  // The open lag window: a histogram of per-beat lags, so a quantile costs no sorting.
  readonly #histogram = new Uint32Array(bucketCount + 1);
  #windowStart: number;
  #windowBeats = 0;
  #windowMax = 0;
  /** The lag of the last closed window. */
  #measuredLagMs = 0;
  #lastBeatAt: number | undefined;

  #queueDepth = 0;
  #stallMs: number | undefined;
  #silence: { share: number; expected: number; trippedAt: number } | undefined;
  #silenceShareNow = 0;
  #silenceExpectedNow = 0;

  #degraded = false;
  #degradedSince = 0;
  #detail: string | undefined;
  #healthySince: number | undefined;

  #ticking: ScheduledTask | undefined;
  #nextTickAt: number | undefined;

  constructor(options: SelfLagGuardOptions) {
    this.#clock = options.clock;
    this.#maxLagMs = options.maxLagMs ?? selfLagDefaults.maxLagMs;
    this.#maxStallMs = options.maxStallMs ?? selfLagDefaults.maxStallMs;
    this.#maxQueueDepth = options.maxQueueDepth ?? selfLagDefaults.maxQueueDepth;
    this.#silentShare = options.silentShare ?? selfLagDefaults.silentShare;
    this.#minExpected = options.minExpected ?? selfLagDefaults.minExpected;
    this.#settleMs = options.settleMs ?? selfLagDefaults.settleMs;
    this.#onChange = options.onChange;
    const now = this.#clock.now();
    this.#baselinePeriodStart = now;
    this.#windowStart = now;
  }

  /** Every accepted heartbeat: `sentAt` by the VM's clock, `receivedAt` by the monitor's. */
  beat(sentAt: number, receivedAt: number, assemblyId: string): void {
    this.#lastBeatAt = receivedAt;
    const offset = receivedAt - sentAt;
    const baseline = this.#baselines.get(assemblyId);
    if (baseline === undefined) {
      if (this.#baselines.size < maxBaselines) this.#baselines.set(assemblyId, { current: offset, previous: offset });
      return;
    }
    if (offset < baseline.current) baseline.current = offset;
    const lag = offset - Math.min(baseline.current, baseline.previous);
    this.#histogram[Math.min(bucketCount, Math.floor(lag / bucketMs))]! += 1;
    this.#windowBeats += 1;
    if (lag > this.#windowMax) this.#windowMax = lag;
  }

  /** Heartbeats waiting in the monitor's queue (sampled by the service). */
  queueDepth(depth: number): void {
    this.#queueDepth = depth;
    this.#evaluate(this.#clock.now());
  }

  /** A periodic tick scheduled for `scheduledAt` ran at `ranAt`: running late means the event loop stalled. */
  loopTick(scheduledAt: number, ranAt: number): void {
    const lateMs = ranAt - scheduledAt;
    if (lateMs > this.#maxStallMs) this.#stallMs = Math.max(this.#stallMs ?? 0, lateMs);
    this.#evaluate(ranAt);
  }

  /**
   * Of `expected` watched assemblies expected to beat (over every cloud), `silentWithinInterval`
   * fell silent (suspect) within the last heartbeat interval. Reported by the service about every 100 ms.
   */
  silence(expected: number, silentWithinInterval: number): void {
    const share = expected > 0 ? silentWithinInterval / expected : 0;
    this.#silenceShareNow = share;
    this.#silenceExpectedNow = expected;
    const now = this.#clock.now();
    if (expected >= this.#minExpected && share >= this.#silentShare) {
      if (this.#silence === undefined) this.#silence = { share, expected, trippedAt: now };
      else if (share > this.#silence.share) this.#silence = { ...this.#silence, share, expected };
    }
    this.#evaluate(now);
  }

  /** Whether the monitor cannot vouch for its silence verdicts now (an overdue tick counts: the loop is stalled). */
  get degraded(): boolean {
    if (this.#degraded) return true;
    return this.#nextTickAt !== undefined && this.#clock.now() - this.#nextTickAt > this.#maxStallMs;
  }

  /**
   * How far behind the heartbeat intake is, in ms: the lag of the last window; while the silence
   * signal holds and nothing has arrived since, at least the time since the last beat arrived
   * (every beat still on its way is that late).
   */
  get lagMs(): number {
    const silentForMs =
      this.#silence !== undefined && this.#lastBeatAt !== undefined && this.#lastBeatAt <= this.#silence.trippedAt
        ? this.#clock.now() - this.#lastBeatAt
        : 0;
    return Math.max(this.#measuredLagMs, silentForMs);
  }

  /** Why the monitor is degraded, in words (the readiness check's detail); `undefined` when it is not. */
  get reason(): string | undefined {
    if (!this.degraded) return undefined;
    const causes = this.#causes(this.#clock.now());
    if (causes.length > 0) return causes.join('; ');
    if (!this.#degraded) return 'a tick is overdue: the event loop is stalled';
    const healthyMs = this.#healthySince === undefined ? 0 : this.#clock.now() - this.#healthySince;
    return `settling: healthy for ${seconds(healthyMs)} of ${seconds(this.#settleMs)} (${this.#detail ?? 'degraded'})`;
  }

  /** Starts the periodic evaluation (also a stall probe of its own). */
  start(): void {
    if (this.#ticking !== undefined) return;
    this.#scheduleTick();
  }

  /** Stops the periodic evaluation. */
  stop(): void {
    this.#ticking?.cancel();
    this.#ticking = undefined;
    this.#nextTickAt = undefined;
  }

  #scheduleTick(): void {
    const scheduledAt = this.#clock.now() + tickMs;
    this.#nextTickAt = scheduledAt;
    this.#ticking = this.#clock.schedule(tickMs, () => {
      this.loopTick(scheduledAt, this.#clock.now());
      if (this.#ticking !== undefined) this.#scheduleTick();
    });
  }

  /** Closes the lag window and renews baselines when their time has come. */
  #roll(now: number): void {
    if (now - this.#windowStart >= windowMs) this.#closeWindow(now);
    // While degraded, baselines stay as they were: a lag that lasts would otherwise become the baseline.
    if (!this.#degraded && now - this.#baselinePeriodStart >= baselinePeriodMs) this.#rotateBaselines(now);
  }

  #closeWindow(now: number): void {
    this.#measuredLagMs = this.#windowBeats === 0 ? 0 : this.#windowQuantile();
    this.#histogram.fill(0);
    this.#windowBeats = 0;
    this.#windowMax = 0;
    this.#windowStart = now;
  }

  #windowQuantile(): number {
    const quantile = this.#windowBeats >= quantileMinSamples ? lagQuantile : 0.5;
    const rank = Math.ceil(quantile * this.#windowBeats);
    let seen = 0;
    for (let bucket = 0; bucket < bucketCount; bucket++) {
      seen += this.#histogram[bucket]!;
      if (seen >= rank) return Math.min(this.#windowMax, (bucket + 1) * bucketMs);
    }
    return this.#windowMax;
  }

  #rotateBaselines(now: number): void {
    for (const [assemblyId, baseline] of this.#baselines) {
      // Silent for a whole period (stopped, deleted, dead): forget it; its next beat starts afresh.
      if (baseline.current === Number.POSITIVE_INFINITY) this.#baselines.delete(assemblyId);
      else {
        baseline.previous = baseline.current;
        baseline.current = Number.POSITIVE_INFINITY;
      }
    }
    this.#baselinePeriodStart = now;
  }

  /** The signals that say the monitor is behind now, in words. */
  #causes(now: number): string[] {
    const causes: string[] = [];
    if (this.#measuredLagMs > this.#maxLagMs) causes.push(`heartbeats arrive ${seconds(this.#measuredLagMs)} late`);
    if (this.#stallMs !== undefined) causes.push(`event loop stalled ${seconds(this.#stallMs)}`);
    if (this.#maxQueueDepth > 0 && this.#queueDepth > this.#maxQueueDepth) {
      causes.push(`${this.#queueDepth} heartbeats wait in the queue (limit ${this.#maxQueueDepth})`);
    }
    if (this.#silence !== undefined) {
      const { share, expected, trippedAt } = this.#silence;
      const quiet = this.#lastBeatAt === undefined || this.#lastBeatAt <= trippedAt;
      causes.push(
        `${Math.round(share * 100)} % of ${expected} assemblies fell silent within one interval` +
          (quiet ? `, no heartbeat for ${seconds(this.#lastBeatAt === undefined ? now - trippedAt : now - this.#lastBeatAt)}` : ''),
      );
    }
    return causes;
  }

  #evaluate(now: number): void {
    this.#roll(now);
    this.#releaseSilence();
    const causes = this.#causes(now);
    // A stall is a moment, not a state: it trips the guard once, and health counts from its end.
    const onlyStalled = this.#stallMs !== undefined && causes.length === 1;
    this.#stallMs = undefined;
    if (causes.length > 0) {
      this.#healthySince = onlyStalled ? now : undefined;
      if (this.#degraded) return;
      this.#degraded = true;
      this.#degradedSince = now;
      this.#detail = causes.join('; ');
      this.#onChange({ degraded: true, cause: 'lagging', lagMs: this.lagMs, detail: this.#detail });
      return;
    }
    if (!this.#degraded) return;
    this.#healthySince ??= now;
    if (now - this.#healthySince < this.#settleMs) return;
    this.#degraded = false;
    this.#healthySince = undefined;
    this.#detail = undefined;
    this.#onChange({ degraded: false, cause: 'lagging', degradedForMs: now - this.#degradedSince });
  }

  /** The silence signal ends once beats arrive again and the share is below the threshold, or nothing is expected to beat. */
  #releaseSilence(): void {
    if (this.#silence === undefined) return;
    if (this.#silenceExpectedNow === 0) this.#silence = undefined;
    else if (this.#lastBeatAt !== undefined && this.#lastBeatAt > this.#silence.trippedAt && this.#silenceShareNow < this.#silentShare) {
      this.#silence = undefined;
    }
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
