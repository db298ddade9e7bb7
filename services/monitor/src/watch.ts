/**
 * What the monitor watches and what it concludes: the shapes its parts hand each other. The
 * liveness detector turns heartbeats and silence into {@link LivenessObservation}s; the cloud
 * watch turns the clouds' answers into {@link CloudView}s; the guards decide whether a verdict
 * may be given now ({@link VerdictGate}); the verdict desk turns what is left into domain events.
 */
import type { Address, ResourceState } from '@defib/contracts';
import type { InstanceHealth, InstanceState } from '@defib/clouds';

/** One assembly as the monitor watches it, learned from `deployable.start-requested` and `assembly.launched`. */
export interface WatchSpec {
  readonly assemblyId: string;
  readonly assembly: string;
  readonly deployableId: string;
  readonly deployable: string;
  /** The registered cloud its VM runs on. */
  readonly cloud: string;
  /** The manifest's `heartbeat.interval`. */
  readonly intervalMs: number;
  /** The manifest's `heartbeat.missed`: silent for `missed × intervalMs` → unresponsive. */
  readonly missed: number;
  /** Its resources, with the registry's ids (the subject of resource events). */
  readonly resources: readonly { readonly id: string; readonly name: string }[];
}

/** Where an assembly stands as the detector sees it. */
export const livenessStates = [
  /** Watched, but no VM launched yet (or its VM was stopped on purpose): nothing is expected. */
  'idle',
  /** A VM was launched (or the monitor restarted): its first beat is due within the grace. */
  'booting',
  /** Beats arrive on time. */
  'alive',
  /** At least one beat is late, not yet `missed` of them. */
  'suspect',
  /** Silent for `missed × interval` (and the gate let the verdict through). */
  'unresponsive',
  /** The cloud said the VM crashed, hung or is gone; no silence verdict follows until a new VM or boot beats. */
  'failed',
] as const;
export type LivenessState = (typeof livenessStates)[number];

/** One resource as the latest heartbeat reported it. */
export interface ResourceLiveness {
  readonly state: ResourceState;
  /** When it entered the state (the agent's clock), when the agent says. */
  readonly since?: number;
  readonly detail?: string;
}

/** What the detector knows of one assembly (for the liveness API and the desk). */
export interface AssemblyLiveness {
  readonly spec: WatchSpec;
  readonly state: LivenessState;
  /** Since when (monitor clock, epoch ms) it is in `state`. */
  readonly stateSince: number;
  /** The VM that should run it now. */
  readonly instanceId: string | undefined;
  readonly bootId: string | undefined;
  /** Sequence of the latest accepted beat. */
  readonly sequence: number | undefined;
  /** When the latest accepted beat was received (monitor clock). */
  readonly lastBeatAt: number | undefined;
  /** When the current VM was launched (monitor clock), if the monitor saw the launch. */
  readonly launchedAt: number | undefined;
  /** Latest known addresses (from the launch, the beats or the cloud). */
  readonly addresses: readonly Address[];
  readonly resources: Readonly<Record<string, ResourceLiveness>>;
  /** When silence becomes an `unresponsive` verdict, if it continues (monitor clock). */
  readonly dueAt: number | undefined;
  /** Beats from another instance id (an old, fenced VM) since watching began. */
  readonly staleBeats: number;
}

/**
 * What the detector concludes, one object per transition. Every observation carries a `key`
 * that every replica seeing the same beats derives identically, so the desk can make sure an
 * observation becomes at most one event across replicas and restarts.
 */
export type LivenessObservation =
  /** First beat of a new VM or a new boot, or the first beat after an `unresponsive` verdict. */
  | { readonly kind: 'running'; readonly key: string; readonly spec: WatchSpec; readonly instanceId: string; readonly bootId: string; readonly addresses: readonly Address[]; readonly after: 'launch' | 'reboot' | 'silence' | 'restart' }
  /** Silent for `missed × interval` (`neverBeat`: the VM never beat since its launch). */
  | {
      readonly kind: 'unresponsive';
      readonly key: string;
      readonly spec: WatchSpec;
      readonly instanceId: string | undefined;
      readonly lastBeatAt: number | undefined;
      readonly silentForMs: number;
      readonly missed: number;
      readonly neverBeat: boolean;
    }
  /** A resource entered `failed`. */
  | { readonly kind: 'resource-failed'; readonly key: string; readonly spec: WatchSpec; readonly resource: string; readonly state: ResourceState; readonly detail: string | undefined }
  /** A resource runs again after `resource-failed`. */
  | { readonly kind: 'resource-running'; readonly key: string; readonly spec: WatchSpec; readonly resource: string }
  /** The beats' addresses differ from the known ones (ignoring network labels). */
  | { readonly kind: 'address-changed'; readonly key: string; readonly spec: WatchSpec; readonly instanceId: string; readonly previous: readonly Address[]; readonly current: readonly Address[] }
  /** A signed beat from an instance that is not the assembly's current one: recorded, never liveness. */
  | { readonly kind: 'stale-instance'; readonly key: string; readonly spec: WatchSpec; readonly instanceId: string; readonly currentInstanceId: string | undefined };

/**
 * Asked by the detector when an assembly's silence reaches its verdict: `judge` lets the
 * `unresponsive` verdict through; `hold` keeps the assembly `suspect` and asks again after
 * `recheckMs` (the monitor lags, or the assembly's cloud or zone looks like a monitoring-path
 * failure that is still being confirmed). Must be cheap and synchronous: it runs on the hot path.
 */
export type VerdictGate = (liveness: AssemblyLiveness, now: number) => { readonly verdict: 'judge' } | { readonly verdict: 'hold'; readonly recheckMs: number };

/** What the cloud says about one VM, as the latest poll (or a direct look-up) saw it. */
export interface CloudView {
  readonly cloud: string;
  readonly instanceId: string;
  /** `gone` when the cloud no longer knows the instance (404, or missing from a complete listing). */
  readonly state: InstanceState | 'gone';
  /** The provider's words, e.g. `SHUTOFF`, `running/impaired`, or `gone`. */
  readonly cloudStatus: string;
  readonly health: InstanceHealth | undefined;
  readonly addresses: readonly Address[];
  readonly zone: string | undefined;
  readonly hostId: string | undefined;
  /** When it was observed (monitor clock): the latest poll or look-up that saw it so. */
  readonly observedAt: number;
  /**
   * Since when the cloud says this `state` (monitor clock): the first poll or look-up that saw it.
   * Absent when unknown (taken as `observedAt`). A beat received after it shows something beats
   * that the cloud says is down (see failure-classification.ts).
   */
  readonly stateSince?: number;
}

/** What the correlation of the two signals says a failure is (see failure-classification.ts). */
export type { AssemblyFailureKind as FailureKind } from '@defib/contracts';
