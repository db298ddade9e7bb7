/**
 * What the fault engine may do to the in-guest agents. The agent runtime implements it; faults,
 * scenarios and the control API use only this, so they never reach into an agent's internals.
 * Every method is a no-op returning false when the VM has no agent (no agent configuration in
 * its user data, or it is not running).
 */

/** How a resource misbehaves until healed. */
export type ResourceFault =
  /** It fails again `failAfterMs` (simulated) after each successful (re)start. */
  | { kind: 'flap'; failAfterMs: number }
  /** Restart and start commands fail; the resource stays failed. */
  | { kind: 'no-restart' };

export interface AgentSnapshot {
  vmId: string;
  assemblyId: string;
  bootId: string;
  sequence: number;
  /** Silent because of a hang or a partition. */
  silent: boolean;
  /** Hung (until healed). Always set by the agent runtime; optional for hand-made snapshots. */
  hung?: boolean;
  /** End of the partition on the simulated clock (Infinity: until healed); null when not partitioned. */
  partitionedUntil?: number | null;
  /**
   * When the next beat slot comes due (null once stopped). Beats are drift-free: slot `n` is due
   * at `nextBeatAt + (n - sequence - 1) × intervalMs`, which is how the bench measures lateness.
   */
  nextBeatAt?: number | null;
  /** Each resource's state, lasting fault and current parameters (as launched or last reconfigured; absent when it has none). */
  resources: { name: string; state: string; fault?: ResourceFault['kind']; params?: Record<string, string> }[];
}

export interface AgentControls {
  /** Heartbeats from the VM are lost until `untilMs` on the simulated clock (or until healed); the VM and its resources are fine. */
  partition(vmId: string, untilMs?: number): boolean;
  /** The guest hangs: the cloud API still says running, but the agent neither beats nor answers commands. */
  hang(vmId: string): boolean;
  /** Ends a partition or a hang. */
  heal(vmId: string): boolean;
  /** The resource crashes now (its state becomes `failed`). */
  crashResource(vmId: string, resource: string): boolean;
  /** Sets or clears (undefined) a lasting resource fault. */
  setResourceFault(vmId: string, resource: string, fault: ResourceFault | undefined): boolean;
  /** The agent as it is now, for the control API and tests. */
  snapshot(vmId: string): AgentSnapshot | undefined;
}
