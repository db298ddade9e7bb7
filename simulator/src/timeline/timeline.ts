/**
 * The ground truth of a run: every fault injected, applied and healed, and every VM lifecycle
 * change, each stamped with simulated time (cloud time since the run began: clock time × speed
 * factor) and wall-clock time (the simulator's clock), plus, per assembly, when each of its
 * instances was running — enough for a drill to score detection and recovery, and to prove that
 * two instances of one assembly never ran at once (`overlaps`).
 */
import type { Clock } from '@defib/platform';
import type { Cloud } from '../cloud/cloud.ts';
import { ec2State } from '../cloud/ec2-state.ts';
import type { LifecycleState, Phase } from '../cloud/lifecycle.ts';
import { novaState } from '../cloud/nova-state.ts';
import type { CloudEvent, Vm, VmAddress } from '../cloud/vm.ts';
import type { AssemblyIndex, AssemblyRef } from './assembly-index.ts';

/** A moment of the run. */
export interface TimePoint {
  /** Cloud time since the run began, in milliseconds (clock time elapsed × speed factor). */
  readonly simTimeMs: number;
  /** The simulator clock's time (wall-clock time outside tests), ISO 8601. */
  readonly wallClock: string;
}

/** A VM a fault struck, and whether it took effect (a VM without an agent ignores agent faults). */
export interface AffectedVm {
  readonly cloud: string;
  readonly vmId: string;
  readonly assemblyId?: string;
  readonly applied: boolean;
  readonly effect: string;
}

/** Where a fault came from. */
export type FaultSource = 'api' | 'scenario';

/** Why a fault stopped. */
export type HealCause = 'healed' | 'expired' | 'reset' | 'scenario-ended';

/** What the timeline records. Every entry also has `seq`, `simTimeMs` and `wallClock`. */
export type TimelineEvent =
  | { readonly type: 'fault.injected'; readonly faultId: string; readonly kind: string; readonly source: FaultSource; readonly spec: object; readonly affected: readonly AffectedVm[] }
  /** A lasting fault struck a VM created after its injection (a boot failure, a slow boot). */
  | { readonly type: 'fault.applied'; readonly faultId: string; readonly kind: string; readonly cloud: string; readonly vmId: string; readonly assemblyId?: string; readonly effect: string }
  | { readonly type: 'fault.healed'; readonly faultId: string; readonly kind: string; readonly cause: HealCause }
  /** A scheduled fault whose target named nothing when its time came. */
  | { readonly type: 'fault.skipped'; readonly kind: string; readonly source: FaultSource; readonly field: string; readonly reason: string }
  | { readonly type: 'vm.created'; readonly cloud: string; readonly vmId: string; readonly name: string; readonly host: string; readonly zone: string; readonly assemblyId?: string; readonly assembly?: string; readonly addresses: readonly string[] }
  | {
      readonly type: 'vm.transition';
      readonly cloud: string;
      readonly vmId: string;
      readonly assemblyId?: string;
      readonly from: LifecycleState;
      readonly to: LifecycleState;
      /** Nova `status` or EC2 state name after the transition. */
      readonly providerState: string;
      readonly operation: string | null;
      readonly cause: string;
      readonly reason?: string;
    }
  | { readonly type: 'vm.addresses-changed'; readonly cloud: string; readonly vmId: string; readonly assemblyId?: string; readonly previous: readonly string[]; readonly current: readonly string[] }
  | { readonly type: 'vm.purged'; readonly cloud: string; readonly vmId: string }
  | { readonly type: 'scenario.started'; readonly name: string; readonly seed: string; readonly speedFactor: number }
  | { readonly type: 'scenario.finished'; readonly name: string };

export type TimelineEntry = TimelineEvent & TimePoint & { readonly seq: number };
export type TimelineEntryType = TimelineEvent['type'];

/** One stretch of time during which one instance of an assembly was running (phase `running`, hung or not). */
export interface RunningInterval {
  readonly cloud: string;
  readonly vmId: string;
  readonly start: TimePoint;
  /** Null while it still runs. */
  end: TimePoint | null;
}

/** Two instances of one assembly running at the same time: what must never happen. */
export interface Overlap {
  readonly vmIds: readonly [string, string];
  readonly start: TimePoint;
  /** Null while both still run. */
  readonly end: TimePoint | null;
}

export interface AssemblyHistory extends AssemblyRef {
  readonly intervals: readonly RunningInterval[];
  readonly overlaps: readonly Overlap[];
}

/** Optional filters of `GET /_sim/timeline`; entries must match all given. */
export interface TimelineFilter {
  types?: readonly string[];
  cloud?: string;
  /** A VM id: entries about it, and faults that struck it. */
  vm?: string;
  /** An assembly id or name. */
  assembly?: string;
  fault?: string;
  sinceMs?: number;
  untilMs?: number;
}

export interface TimelineDependencies {
  clock: Clock;
  speedFactor: () => number;
  assemblies: AssemblyIndex;
  /** The oldest entries are dropped beyond this many (assembly histories are kept whole). Default 200,000. */
  maxEntries?: number;
}

const runningPhase: Phase = 'running';

export class Timeline {
  readonly #clock: Clock;
  readonly #speedFactor: () => number;
  readonly #assemblies: AssemblyIndex;
  readonly #maxEntries: number;
  #origin: number;
  #entries: TimelineEntry[] = [];
  #seq = 0;
  #dropped = 0;
  readonly #histories = new Map<string, { ref: AssemblyRef; intervals: RunningInterval[] }>();
  /** Open intervals by `cloud/vmId`. */
  readonly #open = new Map<string, RunningInterval>();

  constructor(dependencies: TimelineDependencies) {
    this.#clock = dependencies.clock;
    this.#speedFactor = dependencies.speedFactor;
    this.#assemblies = dependencies.assemblies;
    this.#maxEntries = dependencies.maxEntries ?? 200_000;
    this.#origin = this.#clock.now();
  }

  /** Records every VM event of the cloud from now on; returns the unsubscribe function. */
  observe(cloud: Cloud): () => void {
    return cloud.on((event) => this.#onCloudEvent(cloud, event));
  }

  /** Forgets everything; the run begins again now. */
  reset(): void {
    this.#entries = [];
    this.#seq = 0;
    this.#dropped = 0;
    this.#histories.clear();
    this.#open.clear();
    this.#origin = this.#clock.now();
  }

  /** The current moment. */
  now(): TimePoint {
    const now = this.#clock.now();
    return { simTimeMs: Math.round((now - this.#origin) * this.#speedFactor()), wallClock: new Date(now).toISOString() };
  }

  /** When the run began (wall clock). */
  get origin(): string {
    return new Date(this.#origin).toISOString();
  }

  /** How many of the oldest entries were dropped to stay within the limit. */
  get dropped(): number {
    return this.#dropped;
  }

  record(event: TimelineEvent): TimelineEntry {
    const entry = { ...event, ...this.now(), seq: ++this.#seq } as TimelineEntry;
    this.#entries.push(entry);
    if (this.#entries.length > this.#maxEntries) {
      const excess = this.#entries.length - this.#maxEntries;
      this.#entries.splice(0, excess);
      this.#dropped += excess;
    }
    return entry;
  }

  entries(filter: TimelineFilter = {}): TimelineEntry[] {
    const assemblyIds = filter.assembly === undefined ? undefined : this.#assemblyIdsNamed(filter.assembly);
    return this.#entries.filter((entry) => matches(entry, filter, assemblyIds));
  }

  /** The ids an assembly filter stands for: itself, and the ids of assemblies with that name. */
  #assemblyIdsNamed(assembly: string): Set<string> {
    const ids = new Set([assembly]);
    for (const { ref } of this.#histories.values()) if (ref.assembly === assembly) ids.add(ref.assemblyId);
    for (const entry of this.#entries) if (entry.type === 'vm.created' && entry.assembly === assembly && entry.assemblyId !== undefined) ids.add(entry.assemblyId);
    return ids;
  }

  /** Per assembly, its instances' running intervals and where two of them overlap, in order of first appearance. */
  assemblies(filter: { assembly?: string } = {}): AssemblyHistory[] {
    return [...this.#histories.values()]
      .filter(({ ref }) => filter.assembly === undefined || ref.assemblyId === filter.assembly || ref.assembly === filter.assembly)
      .map(({ ref, intervals }) => ({ ...ref, intervals: intervals.map((interval) => ({ ...interval })), overlaps: overlapsOf(intervals) }));
  }

  #onCloudEvent(cloud: Cloud, event: CloudEvent): void {
    switch (event.type) {
      case 'vm.created': {
        const ref = this.#assemblies.of(event.vm);
        this.record({
          type: 'vm.created',
          cloud: event.cloud,
          vmId: event.vm.id,
          name: event.vm.name,
          host: event.vm.host,
          zone: event.vm.zone,
          ...(ref ? { assemblyId: ref.assemblyId, assembly: ref.assembly } : {}),
          addresses: addressesOf(event.vm.addresses),
        });
        return;
      }
      case 'vm.transition': {
        const ref = this.#assemblies.of(event.vm);
        this.record({
          type: 'vm.transition',
          cloud: event.cloud,
          vmId: event.vm.id,
          ...(ref ? { assemblyId: ref.assemblyId } : {}),
          from: event.from,
          to: event.to,
          providerState: cloud.provider === 'openstack' ? novaState(event.to).status : ec2State(event.to).name,
          operation: event.operation,
          cause: event.cause,
          ...(event.reason === undefined ? {} : { reason: event.reason }),
        });
        if (ref) this.#trackRunning(ref, event.vm, event.from.phase === runningPhase, event.to.phase === runningPhase);
        return;
      }
      case 'vm.addresses-changed': {
        const ref = this.#assemblies.of(event.vm);
        this.record({
          type: 'vm.addresses-changed',
          cloud: event.cloud,
          vmId: event.vm.id,
          ...(ref ? { assemblyId: ref.assemblyId } : {}),
          previous: addressesOf(event.previous),
          current: addressesOf(event.vm.addresses),
        });
        return;
      }
      case 'vm.purged':
        this.record({ type: 'vm.purged', cloud: event.cloud, vmId: event.vmId });
        return;
    }
  }

  #trackRunning(ref: AssemblyRef, vm: Readonly<Vm>, wasRunning: boolean, isRunning: boolean): void {
    const key = `${vm.cloud}/${vm.id}`;
    if (!wasRunning && isRunning && !this.#open.has(key)) {
      let history = this.#histories.get(ref.assemblyId);
      if (!history) {
        history = { ref, intervals: [] };
        this.#histories.set(ref.assemblyId, history);
      }
      const interval: RunningInterval = { cloud: vm.cloud, vmId: vm.id, start: this.now(), end: null };
      history.intervals.push(interval);
      this.#open.set(key, interval);
    } else if (wasRunning && !isRunning) {
      const interval = this.#open.get(key);
      if (interval) interval.end = this.now();
      this.#open.delete(key);
    }
  }
}

function addressesOf(addresses: readonly VmAddress[]): string[] {
  return addresses.map((address) => address.address);
}

/** Every pair of intervals of different instances that share some time (touching ends do not count). */
export function overlapsOf(intervals: readonly RunningInterval[]): Overlap[] {
  const overlaps: Overlap[] = [];
  const endOf = (interval: RunningInterval): number => interval.end?.simTimeMs ?? Number.POSITIVE_INFINITY;
  intervals.forEach((a, i) => {
    for (const b of intervals.slice(i + 1)) {
      if (a.vmId === b.vmId) continue;
      const start = a.start.simTimeMs >= b.start.simTimeMs ? a.start : b.start;
      const first = endOf(a) <= endOf(b) ? a : b;
      if (start.simTimeMs >= endOf(first)) continue;
      overlaps.push({ vmIds: [a.vmId, b.vmId], start, end: first.end });
    }
  });
  return overlaps;
}

function matches(entry: TimelineEntry, filter: TimelineFilter, assemblyIds: ReadonlySet<string> | undefined): boolean {
  if (filter.types !== undefined && filter.types.length > 0 && !filter.types.includes(entry.type)) return false;
  if (filter.sinceMs !== undefined && entry.simTimeMs < filter.sinceMs) return false;
  if (filter.untilMs !== undefined && entry.simTimeMs > filter.untilMs) return false;
  if (filter.fault !== undefined && !('faultId' in entry && entry.faultId === filter.fault)) return false;
  const affected = entry.type === 'fault.injected' ? entry.affected : [];
  if (filter.cloud !== undefined && !(('cloud' in entry && entry.cloud === filter.cloud) || affected.some((vm) => vm.cloud === filter.cloud))) return false;
  if (filter.vm !== undefined && !(('vmId' in entry && entry.vmId === filter.vm) || affected.some((vm) => vm.vmId === filter.vm))) return false;
  if (assemblyIds !== undefined) {
    const own = 'assemblyId' in entry && entry.assemblyId !== undefined && assemblyIds.has(entry.assemblyId);
    if (!own && !affected.some((vm) => vm.assemblyId !== undefined && assemblyIds.has(vm.assemblyId))) return false;
  }
  return true;
}
