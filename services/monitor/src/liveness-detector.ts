/**
 * The liveness detector: heartbeats and silence in, {@link LivenessObservation}s out. Per assembly
 * `idle`/`booting` → `alive` → `suspect` → `unresponsive` (or `failed`, when the cloud says so).
 *
 * It is the monitor's hot path (10,000 assemblies beating every second), so a beat costs O(1) and
 * allocates nothing in the steady state, and every assembly has one task on the shared
 * {@link TimerWheel} that is re-armed lazily: a beat only moves `dueAt` on the assembly's entry;
 * when the task comes due early it re-schedules itself at the new deadline. Pure: no I/O, time
 * from the injected clock.
 */
import { sameAddresses } from '@defib/contracts';
import type { Address, Heartbeat, ResourceState } from '@defib/contracts';
import type { Clock, TimerWheel, WheelTask } from '@defib/platform';
import { livenessStates } from './watch.ts';
import type { AssemblyLiveness, LivenessObservation, LivenessState, ResourceLiveness, VerdictGate, WatchSpec } from './watch.ts';

export interface LivenessDetectorOptions {
  clock: Clock;
  /** Shared with the rest of the monitor; runs on the same clock. */
  wheel: TimerWheel;
  /** Extra time a freshly launched VM gets before its first beat is due (boot). */
  bootGraceMs: number;
  /** Asked when silence reaches its verdict; must be cheap and synchronous. */
  gate: VerdictGate;
  /** Receives every transition, synchronously, in order. Must not throw: it runs inside a beat or a wheel tick. */
  onObservation: (observation: LivenessObservation) => void;
}

/**
 * The VM an assembly runs on when the monitor starts watching it: `booting` (launched at
 * `launchedAt`, the first beat is due after the boot grace; the default when `state` is omitted)
 * or `restart` (the monitor itself restarted and reloads what it watched: one full timeout of
 * grace, since the monitor's restart is not the VM's failure).
 */
export interface WatchedInstance {
  readonly instanceId: string;
  readonly addresses: readonly Address[];
  readonly launchedAt?: number;
  readonly state?: 'booting' | 'restart';
}

/**
 * What became of a beat: `accepted` (liveness of the current VM, or quietly recorded while the
 * assembly is stopped on purpose), `stale-instance` (from a VM that is not the current one),
 * `unknown-assembly` (not watched), `out-of-order` (same boot, sequence not beyond the last).
 */
export type HeartbeatOutcome = 'accepted' | 'stale-instance' | 'unknown-assembly' | 'out-of-order';

type RunningAfter = Extract<LivenessObservation, { kind: 'running' }>['after'];

/** A silent assembly turns `suspect` after this many intervals without a beat. */
const SUSPECT_AFTER_INTERVALS = 1.5;
/** Stale (instance, boot) pairs remembered per assembly, so each is reported once; the desk's keys dedupe beyond. */
const STALE_BOOTS_REMEMBERED = 16;

/** What every entry shares: the detector's collaborators and its per-state counters. */
interface DetectorRuntime {
  readonly clock: Clock;
  readonly wheel: TimerWheel;
  readonly bootGraceMs: number;
  readonly gate: VerdictGate;
  readonly observe: (observation: LivenessObservation) => void;
  readonly counts: Record<LivenessState, number>;
}

/** The latest reported state of one resource, updated in place beat after beat. */
interface ResourceRecord {
  state: ResourceState;
  since: number | undefined;
  detail: string | undefined;
}

/**
 * Detects, per watched assembly, whether its VM is alive from its heartbeats and their absence.
 * See the module comment for the cost model; see each method for its contract.
 */
export class LivenessDetector {
  readonly #runtime: DetectorRuntime;
  readonly #entries = new Map<string, AssemblyWatch>();

  constructor(options: LivenessDetectorOptions) {
    const counts = Object.fromEntries(livenessStates.map((state) => [state, 0])) as Record<LivenessState, number>;
    this.#runtime = {
      clock: options.clock,
      wheel: options.wheel,
      bootGraceMs: options.bootGraceMs,
      gate: options.gate,
      observe: options.onObservation,
      counts,
    };
  }

  /** How many assemblies are watched. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Adds an assembly or updates its spec. An update keeps what is known of the current VM (last
   * beat, boot, resources) and re-derives `dueAt` from the new interval and `missed`. `current`
   * names the VM when it differs from the known one (or the assembly was idle): see
   * {@link WatchedInstance}. Without `current` a new assembly is `idle` (nothing expected, no
   * verdict) until a launch, or until a beat names its VM.
   */
  watch(spec: WatchSpec, current?: WatchedInstance): void {
    const entry = this.#entries.get(spec.assemblyId);
    if (entry === undefined) {
      const created = new AssemblyWatch(this.#runtime, spec);
      this.#entries.set(spec.assemblyId, created);
      if (current !== undefined) created.begin(current);
      return;
    }
    entry.respecify(spec);
    if (current !== undefined && (current.instanceId !== entry.instanceId || entry.state === 'idle')) entry.begin(current);
  }

  /**
   * A new VM for the assembly (a launch or a recreate): `booting`, first beat due by
   * `launchedAt + bootGraceMs + missed × intervalMs`. What was known of the previous VM (boot,
   * sequence, resources) is forgotten and its beats are stale from now on. Unknown assembly: ignored.
   */
  launched(assemblyId: string, instanceId: string, addresses: readonly Address[], launchedAt: number): void {
    this.#entries.get(assemblyId)?.begin({ instanceId, addresses, launchedAt, state: 'booting' });
  }

  /** Its VM was stopped on purpose: `idle`, no verdicts until it is launched or watched again. */
  idle(assemblyId: string): void {
    this.#entries.get(assemblyId)?.stop();
  }

  /**
   * The cloud says the assembly's VM crashed, hung or is gone: `failed`, no silence verdict for it;
   * its next beat is reported as `running` again. Ignored when `instanceId` is not the current VM
   * or the assembly is idle.
   */
  failed(assemblyId: string, instanceId: string): void {
    this.#entries.get(assemblyId)?.fail(instanceId);
  }

  /**
   * The cloud reports other addresses for the VM (used where its agent reports none): they become
   * the known ones, so a later beat is compared with them. Ignored when `instanceId` is not current.
   */
  setAddresses(assemblyId: string, instanceId: string, addresses: readonly Address[]): void {
    this.#entries.get(assemblyId)?.setAddresses(instanceId, addresses);
  }

  /** Forgets the assembly (its deployable was deleted). */
  unwatch(assemblyId: string): void {
    this.#entries.get(assemblyId)?.forget();
    this.#entries.delete(assemblyId);
  }

  /** Whether the assembly is watched; the agent channel asks it for every beat. */
  has(assemblyId: string): boolean {
    return this.#entries.has(assemblyId);
  }

  /**
   * Takes a beat the agent channel has verified (MAC, replay). `receivedAt` (monitor clock) is
   * when liveness counts from: lost beats and sequence gaps are normal, so only receipt matters.
   */
  heartbeat(beat: Heartbeat, receivedAt: number): HeartbeatOutcome {
    const entry = this.#entries.get(beat.assemblyId);
    return entry === undefined ? 'unknown-assembly' : entry.heartbeat(beat, receivedAt);
  }

  /**
   * The monitor lagged and has recovered: its lag is no evidence against the VMs, so every silent
   * (`booting` or `suspect`) assembly gets `dueAt = max(dueAt, now + missed × intervalMs)`.
   */
  grace(now: number): void {
    for (const entry of this.#entries.values()) entry.grace(now);
  }

  /** A snapshot of what is known of the assembly, undefined when it is not watched. */
  liveness(assemblyId: string): AssemblyLiveness | undefined {
    return this.#entries.get(assemblyId)?.snapshot();
  }

  /**
   * Every watched assembly as a live view (the detector's own entries, nothing copied): for the
   * census that runs ten times a second over every assembly. Read, never keep.
   */
  summaries(): IterableIterator<LivenessSummary> {
    return this.#entries.values();
  }

  /**
   * The assembly's agent answered a `ping` at `at` from the current VM and boot: it lives, though
   * its heartbeats went missing (lost on the way), so silence counts from the answer. Not taken
   * from another VM or boot, nor once the silence was judged (the next heartbeat says it is back).
   */
  answered(assemblyId: string, reply: { instanceId: string; bootId: string }, at: number): boolean {
    return this.#entries.get(assemblyId)?.answered(reply, at) ?? false;
  }

  /** How many watched assemblies are in each state (counted on transitions, so cheap). */
  counts(): Record<LivenessState, number> {
    return { ...this.#runtime.counts };
  }
}

/**
 * One watched assembly: its liveness, and its own wheel task (`onDue`). At most one task is live
 * per entry: `#armedAt` is the time of the task it relies on; any other task of it still in the
 * wheel is stale and ignored when it fires. Every task is scheduled at most `#stepMs` ahead, and a
 * beat only ever wants to wake `#stepMs` after itself, so a beat never needs an earlier task than
 * the one already armed: beats re-arm nothing, and the wheel holds one task per entry.
 */
/** What the census reads of an assembly, without copying it. */
export interface LivenessSummary {
  readonly spec: WatchSpec;
  readonly state: LivenessState;
  readonly stateSince: number;
  readonly instanceId: string | undefined;
  readonly lastBeatAt: number | undefined;
  readonly dueAt: number | undefined;
}

class AssemblyWatch implements WheelTask, LivenessSummary {
  readonly #runtime: DetectorRuntime;
  #spec: WatchSpec;
  /** Names of the spec's resources: only these produce resource observations. */
  #watchedResources: ReadonlySet<string>;
  /** How far ahead a task may be scheduled: the first wake after a beat (suspect, or the verdict when `missed` is 1). */
  #stepMs: number;

  state: LivenessState = 'idle';
  #stateSince: number;
  /** Stopped on purpose (`idle()`): beats are recorded, but nothing is expected or reported. */
  #stopped = false;
  instanceId: string | undefined;
  #bootId: string | undefined;
  #sequence: number | undefined;
  #lastBeatAt: number | undefined;
  #launchedAt: number | undefined;
  #addresses: readonly Address[] = [];
  readonly #resources = new Map<string, ResourceRecord>();
  /** Resources reported failed and not yet running again (kept across a reboot, forgotten with the VM). */
  readonly #unrecovered = new Set<string>();
  #staleBeats = 0;
  #staleBoots: Set<string> | undefined;

  /** When `missed × interval` counts from while no beat came from this VM: the end of the boot grace, or the monitor's restart. */
  #expectFrom: number;
  /** Since when the VM is known silent while no beat came from it: its launch, or the monitor's restart. */
  #silentSince: number;
  /** The latest `grace(now)` while silent: silence counts from no earlier. */
  #graceFrom: number | undefined;
  /** The gate held the verdict until then. */
  #heldUntil: number | undefined;
  #dueAt: number | undefined;
  /** What the next accepted beat's `running` observation says, unless a new VM or boot says more. */
  #runningAfter: RunningAfter | undefined;
  /** Whether the current VM beat (assumed after the monitor's restart, which does not know). */
  #beatSeen = false;
  #armedAt: number | undefined;

  constructor(runtime: DetectorRuntime, spec: WatchSpec) {
    this.#runtime = runtime;
    this.#spec = spec;
    this.#watchedResources = new Set(spec.resources.map((resource) => resource.name));
    this.#stepMs = Math.min(SUSPECT_AFTER_INTERVALS, spec.missed) * spec.intervalMs;
    const now = runtime.clock.now();
    this.#stateSince = now;
    this.#expectFrom = now;
    this.#silentSince = now;
    runtime.counts.idle++;
  }

  respecify(spec: WatchSpec): void {
    this.#spec = spec;
    this.#watchedResources = new Set(spec.resources.map((resource) => resource.name));
    this.#stepMs = Math.min(SUSPECT_AFTER_INTERVALS, spec.missed) * spec.intervalMs;
    this.#deriveDueAt();
    this.#arm();
  }

  /** A VM (new, or reloaded after the monitor's restart) begins: `booting`, everything of the previous one forgotten. */
  begin(current: WatchedInstance): void {
    const now = this.#runtime.clock.now();
    const restart = current.state === 'restart';
    this.#stopped = false;
    this.instanceId = current.instanceId;
    this.#bootId = undefined;
    this.#sequence = undefined;
    this.#lastBeatAt = undefined;
    this.#launchedAt = current.launchedAt ?? (restart ? undefined : now);
    this.#addresses = current.addresses;
    this.#resources.clear();
    this.#unrecovered.clear();
    this.#silentSince = restart ? now : (this.#launchedAt ?? now);
    this.#expectFrom = restart ? now : this.#silentSince + this.#runtime.bootGraceMs;
    this.#graceFrom = undefined;
    this.#heldUntil = undefined;
    this.#runningAfter = restart ? 'restart' : 'launch';
    this.#beatSeen = restart;
    this.#enter('booting', now);
    this.#deriveDueAt();
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    this.#heldUntil = undefined;
    this.#runningAfter = undefined;
    this.#enter('idle', this.#runtime.clock.now());
    this.#deriveDueAt();
  }

  fail(instanceId: string): void {
    if (instanceId !== this.instanceId || this.state === 'idle') return;
    this.#heldUntil = undefined;
    this.#runningAfter = 'silence';
    this.#enter('failed', this.#runtime.clock.now());
    this.#deriveDueAt();
  }

  forget(): void {
    this.#runtime.counts[this.state]--;
    // Any task still in the wheel finds nothing armed and ignores its onDue.
    this.#armedAt = undefined;
  }

  grace(now: number): void {
    if (this.state !== 'booting' && this.state !== 'suspect') return;
    this.#graceFrom = Math.max(this.#graceFrom ?? now, now);
    this.#deriveDueAt();
  }

  get spec(): WatchSpec {
    return this.#spec;
  }

  get stateSince(): number {
    return this.#stateSince;
  }

  get lastBeatAt(): number | undefined {
    return this.#lastBeatAt;
  }

  get dueAt(): number | undefined {
    return this.#dueAt;
  }

  answered(reply: { instanceId: string; bootId: string }, at: number): boolean {
    if (this.#stopped || reply.instanceId !== this.instanceId || reply.bootId !== this.#bootId) return false;
    if (this.state !== 'alive' && this.state !== 'suspect') return false;
    this.#lastBeatAt = Math.max(this.#lastBeatAt ?? at, at);
    this.#graceFrom = undefined;
    this.#heldUntil = undefined;
    if (this.state !== 'alive') this.#enter('alive', at);
    this.#deriveDueAt();
    this.#arm();
    return true;
  }

  heartbeat(beat: Heartbeat, receivedAt: number): HeartbeatOutcome {
    if (this.instanceId !== undefined && beat.instanceId !== this.instanceId) {
      this.#staleInstance(beat);
      return 'stale-instance';
    }
    if (beat.bootId === this.#bootId && beat.sequence <= (this.#sequence ?? 0)) return 'out-of-order';
    if (this.#stopped) {
      // The VM is going down on purpose: remember where it is, expect and report nothing.
      this.#bootId = beat.bootId;
      this.#sequence = beat.sequence;
      this.#lastBeatAt = receivedAt;
      return 'accepted';
    }
    if (this.instanceId === undefined) {
      // The launch event may come after the VM's first beats: the beat names the VM.
      this.instanceId = beat.instanceId;
      this.#runningAfter = 'launch';
    }
    const firstOfVm = this.#bootId === undefined;
    const newBoot = beat.bootId !== this.#bootId;
    const after: RunningAfter | undefined = firstOfVm ? (this.#runningAfter === 'restart' ? 'restart' : 'launch') : newBoot ? 'reboot' : this.#runningAfter;
    if (newBoot) this.#resources.clear();
    this.#bootId = beat.bootId;
    this.#sequence = beat.sequence;
    this.#lastBeatAt = receivedAt;
    this.#beatSeen = true;
    this.#graceFrom = undefined;
    this.#heldUntil = undefined;
    this.#runningAfter = undefined;
    if (this.state !== 'alive') this.#enter('alive', receivedAt);
    this.#deriveDueAt();
    if (after !== undefined) this.#running(beat, after);
    this.#takeAddresses(beat, firstOfVm);
    this.#takeResources(beat);
    this.#arm();
    return 'accepted';
  }

  onDue(at: number): void {
    if (at !== this.#armedAt) return;
    this.#armedAt = undefined;
    this.#checkSilence(this.#runtime.clock.now());
    this.#arm();
  }

  snapshot(): AssemblyLiveness {
    const resources: Record<string, ResourceLiveness> = {};
    for (const [name, record] of this.#resources) {
      resources[name] = {
        state: record.state,
        ...(record.since === undefined ? {} : { since: record.since }),
        ...(record.detail === undefined ? {} : { detail: record.detail }),
      };
    }
    return {
      spec: this.#spec,
      state: this.state,
      stateSince: this.#stateSince,
      instanceId: this.instanceId,
      bootId: this.#bootId,
      sequence: this.#sequence,
      lastBeatAt: this.#lastBeatAt,
      launchedAt: this.#launchedAt,
      addresses: this.#addresses,
      resources,
      dueAt: this.#dueAt,
      staleBeats: this.#staleBeats,
    };
  }

  #checkSilence(now: number): void {
    const dueAt = this.#dueAt;
    if (dueAt === undefined) return;
    switch (this.state) {
      case 'idle':
      case 'unresponsive':
      case 'failed':
        return;
      case 'alive':
        if (now < dueAt) {
          if (now >= this.#suspectAt()) this.#enter('suspect', now);
          return;
        }
        this.#enter('suspect', now);
        this.#verdict(now);
        return;
      case 'booting':
      case 'suspect':
        if (now < dueAt || now < (this.#heldUntil ?? now)) return;
        this.#verdict(now);
        return;
    }
  }

  #verdict(now: number): void {
    const decision = this.#runtime.gate(this.snapshot(), now);
    switch (decision.verdict) {
      case 'hold':
        this.#heldUntil = now + decision.recheckMs;
        if (this.state !== 'suspect') this.#enter('suspect', now);
        return;
      case 'judge':
        break;
    }
    const { assemblyId, intervalMs, missed } = this.#spec;
    const silentForMs = now - (this.#lastBeatAt ?? this.#silentSince);
    this.#heldUntil = undefined;
    this.#runningAfter = 'silence';
    this.#enter('unresponsive', now);
    this.#deriveDueAt();
    this.#runtime.observe({
      kind: 'unresponsive',
      key: `unresponsive:${assemblyId}:${this.instanceId ?? 'none'}:${this.#bootId ?? 'none'}:${this.#sequence ?? 0}`,
      spec: this.#spec,
      instanceId: this.instanceId,
      lastBeatAt: this.#lastBeatAt,
      silentForMs,
      missed: Math.max(missed, Math.floor(silentForMs / intervalMs)),
      neverBeat: !this.#beatSeen,
    });
  }

  #staleInstance(beat: Heartbeat): void {
    this.#staleBeats++;
    const key = `stale:${this.#spec.assemblyId}:${beat.instanceId}:${beat.bootId}`;
    this.#staleBoots ??= new Set();
    if (this.#staleBoots.has(key)) return;
    if (this.#staleBoots.size >= STALE_BOOTS_REMEMBERED) {
      const oldest = this.#staleBoots.values().next();
      if (oldest.done !== true) this.#staleBoots.delete(oldest.value);
    }
    this.#staleBoots.add(key);
    this.#runtime.observe({ kind: 'stale-instance', key, spec: this.#spec, instanceId: beat.instanceId, currentInstanceId: this.instanceId });
  }

  #running(beat: Heartbeat, after: RunningAfter): void {
    const base = `running:${this.#spec.assemblyId}:${beat.instanceId}:${beat.bootId}`;
    this.#runtime.observe({
      kind: 'running',
      key: after === 'silence' ? `${base}:${beat.sequence}` : base,
      spec: this.#spec,
      instanceId: beat.instanceId,
      bootId: beat.bootId,
      addresses: beat.addresses,
      after,
    });
  }

  setAddresses(instanceId: string, addresses: readonly Address[]): void {
    if (instanceId === this.instanceId) this.#addresses = addresses;
  }

  /** First knowledge, and a new VM's own view of its addresses, are adopted silently; anything else that differs is a change. */
  #takeAddresses(beat: Heartbeat, firstOfVm: boolean): void {
    const previous = this.#addresses;
    if (sameAddressesInOrder(previous, beat.addresses)) return;
    if (firstOfVm || previous.length === 0) {
      this.#addresses = beat.addresses;
      return;
    }
    // The known list may carry the cloud's network labels the guest does not see: keep it when only those differ.
    if (sameAddresses(previous, beat.addresses)) return;
    this.#addresses = beat.addresses;
    this.#runtime.observe({
      kind: 'address-changed',
      key: `address:${this.#spec.assemblyId}:${beat.instanceId}:${beat.bootId}:${beat.sequence}`,
      spec: this.#spec,
      instanceId: beat.instanceId,
      previous,
      current: beat.addresses,
    });
  }

  #takeResources(beat: Heartbeat): void {
    for (const status of beat.resources) {
      const record = this.#resources.get(status.name);
      const previous = record?.state;
      if (record === undefined) this.#resources.set(status.name, { state: status.state, since: status.since, detail: status.detail });
      else {
        record.state = status.state;
        record.since = status.since;
        record.detail = status.detail;
      }
      if (!this.#watchedResources.has(status.name)) continue;
      const assemblyId = this.#spec.assemblyId;
      if (status.state === 'failed' && previous !== 'failed') {
        this.#unrecovered.add(status.name);
        this.#runtime.observe({
          kind: 'resource-failed',
          key: `resource-failed:${assemblyId}:${status.name}:${beat.bootId}:${status.since ?? beat.sequence}`,
          spec: this.#spec,
          resource: status.name,
          state: status.state,
          detail: status.detail,
        });
      } else if (status.state === 'running' && this.#unrecovered.delete(status.name)) {
        this.#runtime.observe({
          kind: 'resource-running',
          key: `resource-running:${assemblyId}:${status.name}:${beat.bootId}:${status.since ?? beat.sequence}`,
          spec: this.#spec,
          resource: status.name,
        });
      }
    }
  }

  #suspectAt(): number {
    return (this.#lastBeatAt ?? this.#expectFrom) + SUSPECT_AFTER_INTERVALS * this.#spec.intervalMs;
  }

  #deriveDueAt(): void {
    switch (this.state) {
      case 'idle':
      case 'unresponsive':
      case 'failed':
        this.#dueAt = undefined;
        return;
      case 'booting':
      case 'alive':
      case 'suspect': {
        const from = Math.max(this.#lastBeatAt ?? this.#expectFrom, this.#graceFrom ?? Number.NEGATIVE_INFINITY);
        this.#dueAt = from + this.#spec.missed * this.#spec.intervalMs;
        return;
      }
    }
  }

  /** When the entry wants its next look at its silence, if it is waiting for anything. */
  #wakeAt(): number | undefined {
    const dueAt = this.#dueAt;
    if (dueAt === undefined) return undefined;
    switch (this.state) {
      case 'idle':
      case 'unresponsive':
      case 'failed':
        return undefined;
      case 'alive':
        return Math.min(this.#suspectAt(), dueAt);
      case 'booting':
      case 'suspect':
        return Math.max(dueAt, this.#heldUntil ?? dueAt);
    }
  }

  /** Makes sure a task comes due no later than the entry wants; a task already armed earlier will re-arm when it fires. */
  #arm(): void {
    const wanted = this.#wakeAt();
    if (wanted === undefined) return;
    const at = Math.min(wanted, this.#runtime.clock.now() + this.#stepMs);
    if (this.#armedAt !== undefined && this.#armedAt <= at) return;
    this.#armedAt = at;
    this.#runtime.wheel.schedule(at, this);
  }

  #enter(state: LivenessState, at: number): void {
    const counts = this.#runtime.counts;
    counts[this.state]--;
    counts[state]++;
    this.state = state;
    this.#stateSince = at;
  }
}

/** The common case of a beat, allocation-free: the same addresses in the same order. */
function sameAddressesInOrder(a: readonly Address[], b: readonly Address[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) {
    const left = a[index] as Address;
    const right = b[index] as Address;
    if (left.address !== right.address || left.type !== right.type) return false;
  }
  return true;
}
