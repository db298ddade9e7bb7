/**
 * The Nova view of the lifecycle: vm_state, task_state, power_state and the API `status` derived
 * from them exactly as nova/api/openstack/common.py does, and the state checks of
 * nova/compute/api.py (`check_instance_state`) that make actions fail with 409.
 */
import type { LifecycleGuard, LifecycleState, Operation, Phase } from './lifecycle.ts';

/** Nova `vm_state`. */
export type NovaVmState = 'building' | 'active' | 'stopped' | 'error' | 'deleted';

/** Nova `task_state` (the subset this simulator reaches; `scheduling` is shown by the API views only). */
export type NovaTaskState = 'scheduling' | 'spawning' | 'reboot_started' | 'reboot_started_hard' | 'powering-off' | 'powering-on' | 'rebuilding' | 'deleting';

/** Nova `status` as shown by the API. */
export type NovaStatus = 'BUILD' | 'ACTIVE' | 'REBOOT' | 'HARD_REBOOT' | 'SHUTOFF' | 'REBUILD' | 'ERROR' | 'DELETED';

/** Nova power states (nova/compute/power_state.py). */
export const NovaPowerState = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4, CRASHED: 6, SUSPENDED: 7 } as const;

/** Everything Nova reports about an instance's state. */
export interface NovaState {
  vmState: NovaVmState;
  taskState: NovaTaskState | null;
  powerState: number;
  status: NovaStatus;
}

const vmStates: Record<Phase, NovaVmState> = {
  building: 'building',
  running: 'active',
  stopped: 'stopped',
  error: 'error',
  deleted: 'deleted',
};

const taskStates: Record<Operation, NovaTaskState> = {
  reboot: 'reboot_started',
  'hard-reboot': 'reboot_started_hard',
  stop: 'powering-off',
  start: 'powering-on',
  rebuild: 'rebuilding',
  delete: 'deleting',
};

/** The action name Nova puts in "Cannot '<action>' instance …" messages. */
export const novaActionNames: Record<Operation, string> = {
  reboot: 'reboot',
  'hard-reboot': 'reboot',
  stop: 'stop',
  start: 'start',
  rebuild: 'rebuild',
  delete: 'delete',
};

/** Projects a lifecycle state onto Nova's four attributes. */
export function novaState(state: LifecycleState): NovaState {
  const vmState = vmStates[state.phase];
  const taskState = state.task ? taskStates[state.task] : state.phase === 'building' ? 'spawning' : null;
  return { vmState, taskState, powerState: powerState(state.phase), status: novaStatus(vmState, taskState) };
}

function powerState(phase: Phase): number {
  switch (phase) {
    case 'running':
      return NovaPowerState.RUNNING;
    case 'stopped':
      return NovaPowerState.SHUTDOWN;
    case 'building':
    case 'error':
    case 'deleted':
      return NovaPowerState.NOSTATE;
  }
}

/** nova.api.openstack.common.status_from_state, for the states this simulator reaches. */
export function novaStatus(vmState: NovaVmState, taskState: NovaTaskState | null): NovaStatus {
  switch (vmState) {
    case 'building':
      return 'BUILD';
    case 'active':
      if (taskState === 'reboot_started') return 'REBOOT';
      if (taskState === 'reboot_started_hard') return 'HARD_REBOOT';
      if (taskState === 'rebuilding') return 'REBUILD';
      return 'ACTIVE';
    case 'stopped':
      return taskState === 'rebuilding' ? 'REBUILD' : 'SHUTOFF';
    case 'error':
      return taskState === 'rebuilding' ? 'REBUILD' : 'ERROR';
    case 'deleted':
      return 'DELETED';
  }
}

interface StateCheck {
  vmStates: readonly NovaVmState[] | 'any';
  taskStates: readonly (NovaTaskState | null)[] | 'any';
}

// The decorators on nova.compute.api.API methods. A hard reboot may interrupt a soft one, which
// is how clients escalate a stuck reboot.
const stateChecks: Record<Operation, StateCheck> = {
  reboot: { vmStates: ['active'], taskStates: [null] },
  'hard-reboot': { vmStates: ['active', 'stopped', 'error'], taskStates: [null, 'reboot_started', 'reboot_started_hard'] },
  stop: { vmStates: ['active', 'error'], taskStates: [null] },
  start: { vmStates: ['stopped'], taskStates: [null] },
  rebuild: { vmStates: ['active', 'stopped', 'error'], taskStates: [null] },
  delete: { vmStates: 'any', taskStates: 'any' },
};

/** Nova's rules: 409 unless the instance's vm_state and task_state allow the action. */
export const novaGuard: LifecycleGuard = (state, operation) => {
  const { vmState, taskState } = novaState(state);
  if (vmState === 'deleted') return { kind: 'reject', attribute: 'vm_state', value: vmState };
  if (operation === 'delete' && state.task === 'delete') return { kind: 'no-op' };
  const check = stateChecks[operation];
  if (check.vmStates !== 'any' && !check.vmStates.includes(vmState)) return { kind: 'reject', attribute: 'vm_state', value: vmState };
  if (check.taskStates !== 'any' && !check.taskStates.includes(taskState)) return { kind: 'reject', attribute: 'task_state', value: String(taskState) };
  return { kind: 'begin' };
};
