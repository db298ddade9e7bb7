/**
 * The provider-neutral VM lifecycle. A VM is in a stable phase, possibly with one operation in
 * progress; each provider view (nova-state.ts, ec2-state.ts) decides which operations it allows
 * and how the pair is shown to its clients. These functions are pure.
 */
import type { LifecycleTimings } from './cloud-config.ts';

/** Where a VM is, between operations. `building` ends on its own, in `running` (or `error`). */
export type Phase = 'building' | 'running' | 'stopped' | 'error' | 'deleted';

/** Something a client asked a VM to do that takes time. */
export type Operation = 'reboot' | 'hard-reboot' | 'stop' | 'start' | 'rebuild' | 'delete';

/** A VM's lifecycle position: its phase and the operation in progress, if any. */
export interface LifecycleState {
  readonly phase: Phase;
  readonly task: Operation | null;
}

/** What a provider says about a requested operation in a given state. */
export type Verdict =
  /** Start the operation (superseding any operation in progress). */
  | { readonly kind: 'begin' }
  /** Accept the request but change nothing: the VM is already there or on its way. */
  | { readonly kind: 'no-op' }
  /** Refuse, for the reason named by the provider-specific attribute and value. */
  | { readonly kind: 'reject'; readonly attribute: string; readonly value: string };

/** Decides, for one provider, whether an operation may start in a state. */
export type LifecycleGuard = (state: LifecycleState, operation: Operation) => Verdict;

export const initialState: LifecycleState = { phase: 'building', task: null };

/** The state once `operation` has begun. */
export function begin(state: LifecycleState, operation: Operation): LifecycleState {
  return { phase: state.phase, task: operation };
}

/** The state once the operation in progress (or the build) has finished. */
export function complete(state: LifecycleState): LifecycleState {
  if (state.task === null) return state.phase === 'building' ? { phase: 'running', task: null } : state;
  switch (state.task) {
    case 'reboot':
    case 'hard-reboot':
    case 'start':
      return { phase: 'running', task: null };
    case 'stop':
      return { phase: 'stopped', task: null };
    case 'rebuild':
      // A rebuilt stopped server stays stopped (Nova powers it off again); an errored one recovers.
      return { phase: state.phase === 'stopped' ? 'stopped' : 'running', task: null };
    case 'delete':
      return { phase: 'deleted', task: null };
  }
}

/** Whether the lifecycle is waiting for something to finish. */
export function isTransient(state: LifecycleState): boolean {
  return state.task !== null || state.phase === 'building';
}

/** Whether a guest OS runs in this state (heartbeats are possible). */
export function isGuestRunning(state: LifecycleState): boolean {
  return state.phase === 'running' && state.task !== 'hard-reboot' && state.task !== 'reboot' && state.task !== 'rebuild';
}

/** The nominal duration, before jitter and speed factor, of what is in progress. */
export function nominalDuration(state: LifecycleState, timings: LifecycleTimings): number {
  if (state.task === null) return state.phase === 'building' ? timings.build : 0;
  switch (state.task) {
    case 'reboot':
      return timings.reboot;
    case 'hard-reboot':
      return timings.hardReboot;
    case 'stop':
      return timings.stop;
    case 'start':
      return timings.start;
    case 'rebuild':
      return timings.rebuild;
    case 'delete':
      return timings.delete;
  }
}
