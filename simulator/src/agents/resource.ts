/**
 * The state machine of one resource (a service such as `mysqld`) inside a simulated guest, as its
 * agent reports it. Pure: the agent asks what an action does and applies the answer; timers live
 * in the agent.
 */
import type { AgentAction, ResourceState } from '@defib/contracts';
import type { ResourceFault } from './agent-controls.ts';

/** A resource as its agent holds it. */
export interface Resource {
  readonly name: string;
  state: ResourceState;
  /** When it entered `state` (epoch ms). */
  since: number;
  /** Why it is in `state`, when there is something to say (a crash, a failed start). */
  detail: string | undefined;
  params: Record<string, string>;
}

/** What finishing a start (at boot, or by a command) leaves the resource in. */
export interface Outcome {
  /** `unchanged`: whatever state the resource is in when the action ends (a reload changes none). */
  readonly state: ResourceState | 'unchanged';
  readonly ok: boolean;
  /** Set when `ok` is false. */
  readonly error?: string;
}

/**
 * What a command does to a resource: `immediate` answers at once without changing anything;
 * `run` puts the resource in `during` for the action's duration, then in `outcome`.
 */
export type CommandPlan =
  | { readonly kind: 'immediate'; readonly outcome: Outcome }
  | { readonly kind: 'run'; readonly during: ResourceState | 'unchanged'; readonly outcome: Outcome };

/** Detail of a crash injected by a fault. */
export const CRASH_DETAIL = 'exited unexpectedly (simulated crash)';
/** Detail of a start refused by a `no-restart` fault. */
export const START_FAILED_DETAIL = 'failed to start (simulated)';

export function newResource(name: string, params: Record<string, string> | undefined, now: number): Resource {
  return { name, state: 'starting', since: now, detail: undefined, params: { ...params } };
}

/** How a start ends, given the resource's lasting fault: a `no-restart` resource fails to start. */
export function startOutcome(fault: ResourceFault | undefined): Outcome & { state: ResourceState } {
  return fault?.kind === 'no-restart' ? { state: 'failed', ok: false, error: START_FAILED_DETAIL } : { state: 'running', ok: true };
}

/** What `action` does to a resource in `state` with an optional lasting fault. */
export function planCommand(action: Exclude<AgentAction, 'ping'>, state: ResourceState, fault: ResourceFault | undefined): CommandPlan {
  switch (action) {
    case 'restart':
      return { kind: 'run', during: 'starting', outcome: startOutcome(fault) };
    case 'start':
      if (state === 'running') return { kind: 'immediate', outcome: { state, ok: true } };
      return { kind: 'run', during: 'starting', outcome: startOutcome(fault) };
    case 'stop':
      if (state === 'stopped') return { kind: 'immediate', outcome: { state, ok: true } };
      return { kind: 'run', during: 'stopping', outcome: { state: 'stopped', ok: true } };
    case 'reconfigure':
      // A reload: the new parameters apply without a restart, whatever state the resource is in.
      return { kind: 'run', during: 'unchanged', outcome: { state: 'unchanged', ok: true } };
  }
}

/** Moves a resource to `state` (a no-op when already there with the same detail); true if it changed. */
export function enter(resource: Resource, state: ResourceState, now: number, detail?: string): boolean {
  if (resource.state === state && resource.detail === detail) return false;
  resource.state = state;
  resource.since = now;
  resource.detail = detail;
  return true;
}
