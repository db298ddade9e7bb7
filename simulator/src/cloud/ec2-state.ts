/**
 * The EC2 view of the lifecycle: instance state codes and names, and which of
 * Start/Stop/Reboot/TerminateInstances each state accepts (IncorrectInstanceState otherwise).
 * EC2 has no ERROR state: a VM in error shows as stopped, as an instance whose host failed does.
 */
import type { LifecycleGuard, LifecycleState } from './lifecycle.ts';

/** EC2 instance state names. */
export type Ec2StateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

/** EC2 `instanceState`: the low byte of `code` is the state. */
export interface Ec2InstanceState {
  code: number;
  name: Ec2StateName;
}

/** The state codes EC2 documents. */
export const ec2StateCodes: Record<Ec2StateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

/** Projects a lifecycle state onto EC2's instance state. */
export function ec2State(state: LifecycleState): Ec2InstanceState {
  const name = ec2StateName(state);
  return { code: ec2StateCodes[name], name };
}

function ec2StateName(state: LifecycleState): Ec2StateName {
  if (state.task === 'delete') return 'shutting-down';
  switch (state.phase) {
    case 'building':
      return 'pending';
    case 'deleted':
      return 'terminated';
    case 'running':
      // Rebooting and rebuilding instances stay `running` on EC2.
      return state.task === 'stop' ? 'stopping' : 'running';
    case 'stopped':
    case 'error':
      return state.task === 'start' || state.task === 'hard-reboot' ? 'pending' : 'stopped';
  }
}

/** The verb EC2 uses in "is not in a state from which it can be <verb>". */
export const ec2Verbs = { stop: 'stopped', start: 'started', reboot: 'rebooted', 'hard-reboot': 'rebooted', delete: 'terminated', rebuild: 'rebuilt' } as const;

/**
 * EC2's rules. Stopping a stopped instance or starting a running one succeeds and changes nothing;
 * terminating is accepted from every state but terminated (where it is a no-op too).
 */
export const ec2Guard: LifecycleGuard = (state, operation) => {
  const current = ec2StateName(state);
  const reject = { kind: 'reject', attribute: 'state', value: current } as const;
  switch (operation) {
    case 'stop':
      if (current === 'running') return { kind: 'begin' };
      return current === 'stopping' || current === 'stopped' ? { kind: 'no-op' } : reject;
    case 'start':
      if (current === 'stopped') return { kind: 'begin' };
      return current === 'running' || current === 'pending' ? { kind: 'no-op' } : reject;
    case 'reboot':
    case 'hard-reboot':
      if (current !== 'running') return reject;
      return state.task === null ? { kind: 'begin' } : { kind: 'no-op' };
    case 'delete':
      return current === 'terminated' || current === 'shutting-down' ? { kind: 'no-op' } : { kind: 'begin' };
    case 'rebuild':
      return reject;
  }
};
