/**
 * The one interface Defib's services use to act on and observe VMs, whatever the cloud: the
 * monitor polls through `list`, recovery launches, reboots, stops and terminates. Every method
 * goes through its cloud's limiter, has a timeout and retries what is safe to retry; every
 * failure is a {@link CloudError}.
 */
import type { Address } from '@defib/contracts';

/**
 * A VM's state, normalised across providers:
 * - `pending`: being created or booting (Nova BUILD, EC2 pending);
 * - `running`: the cloud says it runs (Nova ACTIVE, EC2 running);
 * - `rebooting`: a reboot is under way (Nova REBOOT/HARD_REBOOT);
 * - `stopping` / `stopped`: on the way down, and down with its disk kept (Nova SHUTOFF, EC2 stopped);
 * - `error`: the cloud gave up on it (Nova ERROR);
 * - `terminating` / `terminated`: being deleted, and gone (Nova DELETED or 404 on `describe`, EC2 terminated);
 * - `other`: a state Defib does not act on (Nova PAUSED, SUSPENDED, RESCUE, …): see `cloudStatus`.
 */
export type InstanceState = 'pending' | 'running' | 'rebooting' | 'stopping' | 'stopped' | 'error' | 'terminating' | 'terminated' | 'other';

/** The EC2 status checks: `impaired` is how EC2 tells a hung VM or a failed host from a silent agent. */
export type StatusCheck = 'ok' | 'impaired' | 'insufficient-data' | 'initializing' | 'not-applicable';

/** What the cloud's own health checks say of a VM, where it has them (EC2's DescribeInstanceStatus). */
export interface InstanceHealth {
  /** The VM's own check (`instanceStatus`): impaired when the guest does not answer the hypervisor. */
  readonly instance: StatusCheck;
  /** The host's check (`systemStatus`): impaired when the host or its network failed. */
  readonly system: StatusCheck;
  /** The failed checks by AWS's names (`reachability`), when impaired. */
  readonly details: readonly string[];
}

/** One VM as a cloud API shows it. */
export interface CloudInstance {
  /** The provider's id (a Nova server UUID, an EC2 `i-…`). */
  readonly id: string;
  readonly name: string;
  readonly state: InstanceState;
  /** The provider's own words for the state, for events and people (`ACTIVE/rebooting`, `stopped`). */
  readonly cloudStatus: string;
  readonly addresses: readonly Address[];
  /** Availability zone, when the cloud says. */
  readonly zone?: string;
  /** An opaque id of the host it runs on (Nova `hostId`), when the cloud says. */
  readonly hostId?: string;
  /** Metadata (Nova) or tags (EC2), including Defib's own `defib-*` keys. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The launch action that created it (`defib-action`), for VMs Defib launched. */
  readonly actionId?: string;
  /** When the cloud last changed it, if it says (ISO 8601). */
  readonly updatedAt?: string;
  /** The cloud's health checks, on clouds that have them. */
  readonly health?: InstanceHealth;
}

/** What to launch. */
export interface LaunchRequest {
  /**
   * The caller's id for this launch: retrying with the same id never creates a second VM (EC2:
   * the `ClientToken`; OpenStack: the `defib-action` metadata, looked up before a retry).
   */
  readonly actionId: string;
  readonly name: string;
  /** Image name (or the provider's id), resolved by the driver. */
  readonly image: string;
  /** Flavor (OpenStack) or instance type (EC2) name. */
  readonly flavor: string;
  /** Plain text; the driver encodes it as the API wants. */
  readonly userData?: string;
  /** Metadata (OpenStack) or tags (EC2); `defib-*` keys are the driver's own. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly zone?: string;
  /** OpenStack network name or id, `auto` or `none`; overrides the cloud's default. */
  readonly network?: string;
}

/** Options of {@link CloudDriver.list}. */
export interface ListOptions {
  /** Only VMs changed since this time (ISO 8601), where the cloud can filter so; deleted ones included. */
  readonly changesSince?: string;
}

/** What a cloud offers to launch with, for checking a manifest before it is started. */
export interface CloudOfferings {
  readonly images: readonly string[];
  readonly flavors: readonly string[];
  /** OpenStack networks by name; absent on EC2. */
  readonly networks?: readonly string[];
}

/** One registered cloud's API, as Defib uses it. */
export interface CloudDriver {
  /** The registered cloud's name: in every error message and metric. */
  readonly cloud: string;
  readonly provider: 'openstack' | 'ec2';
  /** Proves the registration works: credentials accepted, region and compute endpoint found. */
  checkAccess(): Promise<void>;
  /** The images, flavors (and networks) the cloud offers, by name. */
  offerings(): Promise<CloudOfferings>;
  /** Creates a VM, at most once per `actionId`, and returns it as the cloud first shows it. */
  launch(request: LaunchRequest): Promise<CloudInstance>;
  /** One VM; a VM the cloud no longer knows is a `not-found` {@link CloudError}. */
  describe(instanceId: string): Promise<CloudInstance>;
  /** Every VM Defib launched in this cloud, read in pages. */
  list(options?: ListOptions): Promise<CloudInstance[]>;
  reboot(instanceId: string, options: { hard: boolean }): Promise<void>;
  start(instanceId: string): Promise<void>;
  stop(instanceId: string): Promise<void>;
  /** Deletes a VM; one already gone counts as done. */
  terminate(instanceId: string): Promise<void>;
  /** Releases the driver's connections; calls under way are not waited for. */
  close(): void;
}

/** The metadata key (tag on EC2) holding the launch's action id. */
export const actionMetadataKey = 'defib-action';
/** The metadata key (tag) marking a VM as Defib's, so `list` shows only Defib's VMs. */
export const managedMetadataKey = 'defib-managed';
