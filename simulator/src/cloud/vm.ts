/** The simulated VM and the events its cloud emits about it. */
import type { LifecycleState, Operation } from './lifecycle.ts';

/** An address on one of the VM's network interfaces. */
export interface VmAddress {
  network: string;
  address: string;
  /** `fixed`: the interface's private address; `floating`: a public address mapped onto it. */
  kind: 'fixed' | 'floating';
  mac: string;
  /** Set for floating addresses a client allocated (elastic IPs); absent for auto-assigned ones. */
  floatingId?: string;
}

/** A tag; Nova tags are plain strings and are stored with an empty value. */
export interface VmTag {
  key: string;
  value: string;
}

/** One VM as the cloud holds it. Provider views (Nova, EC2) render it; they never store copies. */
export interface Vm {
  readonly id: string;
  readonly cloud: string;
  /** Creation order within the cloud, from 1 (Nova's `instance-0000000N`). */
  readonly sequence: number;
  /** VMs created by one request share a reservation (EC2 `reservationId`, Nova `reservation_id`). */
  readonly reservationId: string;
  /** Position within its reservation (EC2 `amiLaunchIndex`). */
  readonly launchIndex: number;
  name: string;
  imageId: string;
  readonly flavorId: string;
  /** Base64 as the client sent it; null when none. */
  readonly userData: string | null;
  /** Free text the client gave (Nova `description`); null when none. */
  readonly description: string | null;
  metadata: Record<string, string>;
  tags: VmTag[];
  readonly zone: string;
  readonly host: string;
  addresses: VmAddress[];
  state: LifecycleState;
  readonly keyName: string | null;
  readonly adminPass: string;
  readonly createdAt: number;
  updatedAt: number;
  /** When the VM last entered `running`; null before the first boot. */
  launchedAt: number | null;
  deletedAt: number | null;
  /** Why the VM is in its state, when the cloud knows (a fault, a failed boot). */
  fault: { code: number; message: string; at: number } | null;
}

/** What caused a lifecycle transition. */
export type TransitionCause = 'requested' | 'completed' | 'forced';

/** Emitted by a cloud on every change a client or the timeline could observe. */
export type CloudEvent =
  | { readonly type: 'vm.created'; readonly cloud: string; readonly at: number; readonly vm: Readonly<Vm> }
  | {
      readonly type: 'vm.transition';
      readonly cloud: string;
      readonly at: number;
      readonly vm: Readonly<Vm>;
      readonly from: LifecycleState;
      readonly to: LifecycleState;
      /** The operation that began or finished; `build` for a build finishing; null when forced. */
      readonly operation: Operation | 'build' | null;
      readonly cause: TransitionCause;
      readonly reason?: string;
    }
  | { readonly type: 'vm.addresses-changed'; readonly cloud: string; readonly at: number; readonly vm: Readonly<Vm>; readonly previous: readonly VmAddress[] }
  | { readonly type: 'vm.purged'; readonly cloud: string; readonly at: number; readonly vmId: string };

/** Subscribers must not throw: events are emitted synchronously from timers. */
export type CloudListener = (event: CloudEvent) => void;
