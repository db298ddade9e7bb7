/**
 * The fault engine: injects faults into the clouds and the in-guest agents, heals them (by hand,
 * or when their duration ends), and records both on the timeline. Time comes from the injected
 * clock and every choice (which VMs a `pick` strikes, which calls an error rate fails) from the
 * seeded stream, so a scenario replays identically.
 *
 * How each kind acts:
 * - cloud-side kinds go through the cloud model (`forcePhase`, `reassignAddresses`,
 *   `setHostDown`, a boot policy for VMs built while the fault is active, an API gate);
 * - guest-side kinds go through `AgentControls` and never touch an agent's internals.
 */
import { formatDuration } from '@defib/contracts';
import type { AgentControls } from '../agents/agent-controls.ts';
import type { Clock, ScheduledTask } from '@defib/platform';
import type { ApiRejection, BootPlan, Cloud } from '../cloud/cloud.ts';
import { RateLimiter } from '../cloud/rate-limiter.ts';
import type { Vm } from '../cloud/vm.ts';
import type { SeededRandom } from '@defib/platform';
import type { AssemblyIndex } from '../timeline/assembly-index.ts';
import type { AffectedVm, FaultSource, HealCause, TimePoint, Timeline } from '../timeline/timeline.ts';
import { instantFaultKinds, isApiFault, lastingOnNewVmKinds } from './fault-spec.ts';
import type { FaultKind, FaultSpec, FaultSpecOf } from './fault-spec.ts';
import { matchesVm, resolveHosts, resolveVms, targetClouds } from './fault-target.ts';
import type { TargetedVm } from './fault-target.ts';

/** `active` until healed or expired; `completed` for faults that happen once (a crash, an IP change). */
export type FaultState = 'active' | 'healed' | 'completed';

/** A fault as the control API shows it. Durations are shown as they are written (`30s`). */
export interface FaultView {
  readonly id: string;
  readonly kind: FaultKind;
  readonly state: FaultState;
  readonly source: FaultSource;
  readonly spec: Record<string, unknown>;
  readonly injectedAt: TimePoint;
  /** When a fault with a duration is due to heal. */
  readonly endsAt?: TimePoint;
  readonly healedAt?: TimePoint;
  readonly healCause?: HealCause;
  /** The VMs it struck, at injection and (for boot faults) since. */
  readonly affected: readonly AffectedVm[];
  /** The hosts a host-failure took down. */
  readonly hosts?: readonly { cloud: string; host: string }[];
}

export interface FaultEngineDependencies {
  clock: Clock;
  /** The engine's own stream; it forks it for fault ids and per fault. */
  random: SeededRandom;
  clouds: readonly Cloud[];
  agents: AgentControls;
  timeline: Timeline;
  assemblies: AssemblyIndex;
  /** Divides every fault delay (durations, latency, flapping period), as it does lifecycle delays. */
  speedFactor: () => number;
}

interface FaultRecord {
  readonly id: string;
  readonly spec: FaultSpec;
  readonly source: FaultSource;
  readonly random: SeededRandom;
  readonly injectedAt: TimePoint;
  state: FaultState;
  endsAt?: TimePoint;
  healedAt?: TimePoint;
  healCause?: HealCause;
  affected: AffectedVm[];
  hosts: { cloud: Cloud; host: string }[];
  /** What healing reverses, in order. */
  undo: (() => void)[];
  expiry?: ScheduledTask;
  limiter?: RateLimiter;
}

interface Sleep {
  readonly task: ScheduledTask;
  readonly wake: () => void;
}

/** Fields of specs that hold durations (milliseconds once parsed). */
const durationFields = new Set(['duration', 'failAfter', 'delay', 'latency', 'retryAfter']);

export class FaultEngine {
  readonly #clock: Clock;
  #random: SeededRandom;
  readonly #clouds: readonly Cloud[];
  readonly #agents: AgentControls;
  readonly #timeline: Timeline;
  readonly #assemblies: AssemblyIndex;
  readonly #speedFactor: () => number;
  readonly #faults = new Map<string, FaultRecord>();
  readonly #sleeps = new Set<Sleep>();
  readonly #detach: (() => void)[] = [];
  #ids: SeededRandom;

  constructor(dependencies: FaultEngineDependencies) {
    this.#clock = dependencies.clock;
    this.#random = dependencies.random;
    this.#clouds = dependencies.clouds;
    this.#agents = dependencies.agents;
    this.#timeline = dependencies.timeline;
    this.#assemblies = dependencies.assemblies;
    this.#speedFactor = dependencies.speedFactor;
    this.#ids = this.#random.fork('ids');
    for (const cloud of this.#clouds) {
      this.#detach.push(
        cloud.addApiGate((operation) => this.#gate(cloud, operation)),
        cloud.addBootPolicy((vm) => this.#planBoot(cloud, vm)),
      );
    }
  }

  /**
   * Injects a fault now. Throws an `UnknownTargetError` when the target names an unknown cloud,
   * host or zone, or (for kinds that only strike existing VMs) when a VM or assembly selector
   * matches nothing — unless `lenient`, where such a fault is recorded with no VM affected.
   */
  inject(spec: FaultSpec, options: { source?: FaultSource } = {}): FaultView {
    const source = options.source ?? 'api';
    const strict = !lastingOnNewVmKinds.includes(spec.kind) && !isApiFault(spec);
    // Resolve before taking an id, so a refused fault leaves the id stream untouched.
    const resolved = isApiFault(spec) || spec.kind === 'host-failure' ? [] : resolveVms(spec.target, this.#clouds, this.#assemblies, strict);
    // Boot faults strike builds: at injection, only VMs still building (the rest through #planBoot).
    const targets = spec.kind === 'boot-failure' || spec.kind === 'slow-boot' ? resolved.filter(({ vm }) => spec.kind === 'boot-failure' && vm.state.phase === 'building') : resolved;
    const hosts = spec.kind === 'host-failure' ? resolveHosts(spec.target, this.#clouds) : [];
    if (isApiFault(spec)) targetClouds(spec.target, this.#clouds);
    const id = `flt-${this.#ids.hex(12)}`;
    const record: FaultRecord = {
      id,
      spec,
      source,
      random: this.#random.fork(`fault:${id}`),
      injectedAt: this.#timeline.now(),
      state: instantFaultKinds.includes(spec.kind) ? 'completed' : 'active',
      affected: [],
      hosts,
      undo: [],
    };
    this.#faults.set(id, record);
    const struck = spec.target.pick === undefined ? targets : this.#pick(targets, spec.target.pick, record.random);
    // The injection is recorded before its effects (transitions, address changes), and lists the
    // VMs struck at injection; later strikes get their own `fault.applied` entries.
    const affectedAtInjection: AffectedVm[] = [];
    this.#timeline.record({ type: 'fault.injected', faultId: id, kind: spec.kind, source, spec: describeSpec(spec), affected: affectedAtInjection });
    this.#apply(record, struck);
    affectedAtInjection.push(...record.affected);
    if (record.state === 'active' && 'duration' in spec && spec.duration !== undefined) {
      const delay = spec.duration / this.#speedFactor();
      record.endsAt = { simTimeMs: record.injectedAt.simTimeMs + spec.duration, wallClock: new Date(this.#clock.now() + delay).toISOString() };
      record.expiry = this.#clock.schedule(delay, () => this.#end(record, 'expired'));
    }
    return view(record);
  }

  /** Heals an active fault; a fault that already ended is returned as it is. Undefined when unknown. */
  heal(id: string, cause: HealCause = 'healed'): FaultView | undefined {
    const record = this.#faults.get(id);
    if (!record) return undefined;
    this.#end(record, cause);
    return view(record);
  }

  /** Heals every active fault. */
  healAll(cause: HealCause): void {
    for (const record of this.#faults.values()) this.#end(record, cause);
  }

  get(id: string): FaultView | undefined {
    const record = this.#faults.get(id);
    return record ? view(record) : undefined;
  }

  /** Every fault since the last reset, in injection order. */
  list(filter: { state?: FaultState } = {}): FaultView[] {
    return [...this.#faults.values()].filter((record) => filter.state === undefined || record.state === filter.state).map(view);
  }

  /** Heals everything, forgets every fault and rewinds the id stream (or starts a new seed's). */
  reset(random?: SeededRandom): void {
    this.healAll('reset');
    this.#wakeAll();
    this.#faults.clear();
    if (random) this.#random = random;
    this.#ids = this.#random.fork('ids');
  }

  /** Detaches from the clouds and wakes every delayed call. */
  dispose(): void {
    for (const record of this.#faults.values()) record.expiry?.cancel();
    this.#wakeAll();
    for (const detach of this.#detach.splice(0)) detach();
  }

  #apply(record: FaultRecord, targets: readonly TargetedVm[]): void {
    const { spec } = record;
    const speed = this.#speedFactor();
    const strike = (target: TargetedVm, applied: boolean, effect: string): void => {
      const ref = this.#assemblies.of(target.vm);
      record.affected.push({ cloud: target.cloud.name, vmId: target.vm.id, ...(ref ? { assemblyId: ref.assemblyId } : {}), applied, effect });
    };
    const reason = `${spec.kind} (fault ${record.id})`;
    switch (spec.kind) {
      case 'vm-crash':
        for (const target of targets) {
          const running = target.vm.state.phase === 'running';
          if (running) target.cloud.forcePhase(target.vm.id, spec.to, reason);
          strike(target, running, running ? `crashed to ${spec.to}` : `not running (${target.vm.state.phase})`);
        }
        return;
      case 'vm-hang':
        for (const target of targets) this.#throughAgent(record, target, strike, () => this.#agents.hang(target.vm.id), 'hung', true);
        return;
      case 'agent-partition': {
        const until = spec.duration === undefined ? undefined : this.#clock.now() + spec.duration / speed;
        for (const target of targets) this.#throughAgent(record, target, strike, () => this.#agents.partition(target.vm.id, until), 'partitioned', true);
        return;
      }
      case 'resource-crash':
        for (const target of targets) this.#throughAgent(record, target, strike, () => this.#agents.crashResource(target.vm.id, spec.resource), `${spec.resource} crashed`, false);
        return;
      case 'resource-flap':
      case 'resource-no-restart': {
        const fault = spec.kind === 'resource-flap' ? ({ kind: 'flap', failAfterMs: spec.failAfter / speed } as const) : ({ kind: 'no-restart' } as const);
        for (const target of targets) {
          const applied = this.#agents.setResourceFault(target.vm.id, spec.resource, fault);
          if (applied) {
            this.#agents.crashResource(target.vm.id, spec.resource);
            record.undo.push(() => this.#agents.setResourceFault(target.vm.id, spec.resource, undefined));
          }
          strike(target, applied, applied ? `${spec.resource} crashed, ${spec.kind === 'resource-flap' ? 'flapping' : 'will not restart'}` : 'no agent');
        }
        return;
      }
      case 'ip-change':
        for (const target of targets) {
          const before = target.vm.addresses.map((address) => address.address);
          const after = target.cloud.reassignAddresses(target.vm.id, { fixed: spec.fixed, floating: spec.floating }).addresses.map((address) => address.address);
          const changed = before.join(',') !== after.join(',');
          strike(target, changed, changed ? `${before.join(', ')} → ${after.join(', ')}` : 'no address to change');
        }
        return;
      case 'host-failure':
        for (const { cloud, host } of record.hosts) {
          cloud.setHostDown(host, true);
          record.undo.push(() => cloud.setHostDown(host, false));
          for (const vm of cloud.vmsOnHost(host)) this.#failOnHost(record, { cloud, vm }, strike, reason);
        }
        return;
      case 'boot-failure':
        for (const target of targets) {
          target.cloud.forcePhase(target.vm.id, spec.to, reason);
          strike(target, true, `boot failed (${spec.to})`);
        }
        return;
      case 'slow-boot':
        // Only builds that start from now on are slowed; see #planBoot.
        return;
      case 'api-throttle':
        // A rate, not a delay: like the cloud's own rate limit, it is not scaled by the speed factor.
        if (spec.perSecond !== undefined) record.limiter = new RateLimiter({ perSecond: spec.perSecond, burst: spec.burst ?? 1 }, this.#clock);
        return;
      case 'api-error':
      case 'api-latency':
      case 'api-outage':
        // Acted on per call by the cloud's API gate.
        return;
    }
  }

  #throughAgent(record: FaultRecord, target: TargetedVm, strike: (target: TargetedVm, applied: boolean, effect: string) => void, act: () => boolean, effect: string, healable: boolean): void {
    const applied = act();
    if (applied && healable) record.undo.push(() => this.#agents.heal(target.vm.id));
    strike(target, applied, applied ? effect : 'no agent');
  }

  #failOnHost(record: FaultRecord, target: TargetedVm, strike: (target: TargetedVm, applied: boolean, effect: string) => void, reason: string): void {
    const spec = record.spec as FaultSpecOf<'host-failure'>;
    const { phase } = target.vm.state;
    if (spec.mode === 'hang') {
      this.#throughAgent(record, target, strike, () => this.#agents.hang(target.vm.id), 'hung with its host', true);
      return;
    }
    const to = phase === 'building' ? 'error' : spec.mode;
    const applies = phase === 'building' || phase === 'running' || (phase === 'stopped' && to === 'error');
    if (applies) target.cloud.forcePhase(target.vm.id, to, reason);
    strike(target, applies, applies ? `${to} with its host` : `unchanged (${phase})`);
  }

  #end(record: FaultRecord, cause: HealCause): void {
    if (record.state !== 'active') return;
    record.state = 'healed';
    record.healCause = cause;
    record.healedAt = this.#timeline.now();
    record.expiry?.cancel();
    for (const undo of record.undo.splice(0)) undo();
    this.#timeline.record({ type: 'fault.healed', faultId: record.id, kind: record.spec.kind, cause });
  }

  /** What an active boot-failure or slow-boot does to a VM being created. */
  #planBoot(cloud: Cloud, vm: Readonly<Vm>): BootPlan | undefined {
    let extraDelayMs = 0;
    let failure: BootPlan['failure'];
    for (const record of this.#faults.values()) {
      const { spec } = record;
      if (record.state !== 'active' || (spec.kind !== 'boot-failure' && spec.kind !== 'slow-boot')) continue;
      if (!matchesVm(spec.target, cloud, vm, this.#assemblies)) continue;
      if (spec.target.pick !== undefined && record.affected.filter((affected) => affected.applied).length >= spec.target.pick) continue;
      const effect = spec.kind === 'slow-boot' ? `boot slowed by ${formatDuration(spec.delay)}` : `boot will fail (${spec.to})`;
      if (spec.kind === 'slow-boot') extraDelayMs += spec.delay;
      else failure ??= { message: `boot failure (fault ${record.id})`, to: spec.to };
      const ref = this.#assemblies.of(vm);
      const assembly = ref ? { assemblyId: ref.assemblyId } : {};
      record.affected.push({ cloud: cloud.name, vmId: vm.id, ...assembly, applied: true, effect });
      this.#timeline.record({ type: 'fault.applied', faultId: record.id, kind: spec.kind, cloud: cloud.name, vmId: vm.id, ...assembly, effect });
    }
    if (extraDelayMs === 0 && !failure) return undefined;
    return failure ? { extraDelayMs, failure } : { extraDelayMs };
  }

  /** Decides one API call: added latency first, then outage, throttling and errors, in injection order. */
  #gate(cloud: Cloud, operation: string): ApiRejection | undefined | Promise<ApiRejection | undefined> {
    const active = this.#apiFaults(cloud, operation);
    if (active.length === 0) return undefined;
    const latency = active.reduce((sum, record) => sum + (record.spec.kind === 'api-latency' ? record.spec.latency : 0), 0) / this.#speedFactor();
    if (latency <= 0) return this.#decide(active);
    // Faults healed during the wait no longer count.
    return this.#sleep(latency).then(() => this.#decide(this.#apiFaults(cloud, operation)));
  }

  #apiFaults(cloud: Cloud, operation: string): FaultRecord[] {
    return [...this.#faults.values()].filter((record) => {
      const { spec } = record;
      if (record.state !== 'active' || !isApiFault(spec) || spec.target.cloud !== cloud.name) return false;
      return spec.operations === undefined || spec.operations.some((pattern) => (pattern.endsWith('*') ? operation.startsWith(pattern.slice(0, -1)) : operation === pattern));
    });
  }

  #decide(active: readonly FaultRecord[]): ApiRejection | undefined {
    for (const record of active) {
      const { spec } = record;
      if (!isApiFault(spec)) continue;
      switch (spec.kind) {
        case 'api-outage':
          return { kind: 'unavailable', message: `The service is unavailable (injected outage ${record.id}).` };
        case 'api-throttle': {
          const retryAfterMs = spec.retryAfter ?? 1_000;
          if (record.limiter) {
            const decision = record.limiter.take();
            if (!decision.allowed) return { kind: 'throttled', retryAfterMs: decision.retryAfterMs };
          } else if (record.random.next() < (spec.rate ?? 1)) {
            return { kind: 'throttled', retryAfterMs };
          }
          break;
        }
        case 'api-error':
          if (record.random.next() < spec.rate) return { kind: 'internal-error', message: `An internal error has occurred (injected fault ${record.id}).` };
          break;
        case 'api-latency':
          // Already waited for in #gate.
          break;
      }
    }
    return undefined;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const sleep: Sleep = {
        task: this.#clock.schedule(ms, () => {
          this.#sleeps.delete(sleep);
          resolve();
        }),
        wake: resolve,
      };
      this.#sleeps.add(sleep);
    });
  }

  #wakeAll(): void {
    for (const sleep of this.#sleeps) {
      sleep.task.cancel();
      sleep.wake();
    }
    this.#sleeps.clear();
  }

  /** `count` of the targets chosen by the fault's stream, kept in their original order. */
  #pick(targets: readonly TargetedVm[], count: number, random: SeededRandom): TargetedVm[] {
    const indexes = targets.map((_, index) => index);
    for (let i = indexes.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [indexes[i], indexes[j]] = [indexes[j] ?? 0, indexes[i] ?? 0];
    }
    const chosen = new Set(indexes.slice(0, count));
    return targets.filter((_, index) => chosen.has(index));
  }
}

function view(record: FaultRecord): FaultView {
  return {
    id: record.id,
    kind: record.spec.kind,
    state: record.state,
    source: record.source,
    spec: describeSpec(record.spec),
    injectedAt: record.injectedAt,
    ...(record.endsAt ? { endsAt: record.endsAt } : {}),
    ...(record.healedAt ? { healedAt: record.healedAt } : {}),
    ...(record.healCause ? { healCause: record.healCause } : {}),
    affected: [...record.affected],
    ...(record.spec.kind === 'host-failure' ? { hosts: record.hosts.map(({ cloud, host }) => ({ cloud: cloud.name, host })) } : {}),
  };
}

/** The spec as a client would write it: durations back in `30s` form. */
export function describeSpec(spec: FaultSpec): Record<string, unknown> {
  return Object.fromEntries(Object.entries(spec).map(([key, value]) => [key, durationFields.has(key) && typeof value === 'number' ? formatDuration(value) : value]));
}
