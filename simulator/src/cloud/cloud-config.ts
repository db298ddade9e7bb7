/**
 * What a simulated cloud is made of. Every field has a default (see `defaultClouds`), so a caller
 * only states what differs.
 */

/** Which provider API a cloud speaks. */
export type Provider = 'openstack' | 'ec2';

/** An availability zone and the hypervisor hosts in it. */
export interface ZoneConfig {
  name: string;
  hosts: string[];
}

/** A bootable image (a Glance image on OpenStack, an AMI on EC2). */
export interface ImageConfig {
  /** Glance UUID or `ami-…`; derived from the seed when absent. */
  id?: string;
  name: string;
  minDiskGb?: number;
  minRamMb?: number;
  sizeBytes?: number;
}

/** A Nova flavor or an EC2 instance type (on EC2 `id` and `name` are both the type, e.g. `t3.micro`). */
export interface FlavorConfig {
  id: string;
  name: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

/** A network with its address pools. */
export interface NetworkConfig {
  name: string;
  /** Network UUID on OpenStack, subnet id on EC2; derived from the seed when absent. */
  id?: string;
  /** Pool for fixed (private) addresses, e.g. `10.0.0.0/16`. */
  fixedCidr: string;
  /** Pool for floating (public, elastic) addresses. */
  floatingCidr?: string;
  /**
   * Give every VM a floating address when it starts and take it back when it stops, as EC2 does
   * for public IPv4 addresses in a default subnet.
   */
  autoAssignFloating?: boolean;
}

/** How long each lifecycle operation takes, in milliseconds of cloud time before the speed factor. */
export interface LifecycleTimings {
  build: number;
  reboot: number;
  hardReboot: number;
  stop: number;
  start: number;
  rebuild: number;
  delete: number;
  /** Relative spread of every duration: 0.2 means ±20 %, drawn from the seeded stream. */
  jitter: number;
  /** How long a deleted/terminated VM stays on record (EC2 keeps terminated instances visible). */
  deletedRetention: number;
  /** How long after launch EC2 status checks report `initializing` before `ok`. */
  statusChecksAfter: number;
}

/** A token bucket in front of a cloud's API: `burst` calls at once, refilled at `perSecond`. */
export interface RateLimitConfig {
  perSecond: number;
  burst: number;
}

/** One simulated cloud (one region of one provider). */
export interface CloudConfig {
  /** Registry name of the cloud, e.g. `sim-openstack`. */
  name: string;
  provider: Provider;
  /** Keystone region id or AWS region name. */
  region: string;
  zones: ZoneConfig[];
  images: ImageConfig[];
  flavors: FlavorConfig[];
  /** The first network is where a VM is attached unless it asks otherwise. */
  networks: NetworkConfig[];
  timings: LifecycleTimings;
  /** Most VMs that may exist at once (not counting deleted ones); unlimited when absent. */
  maxInstances?: number;
  rateLimit?: RateLimitConfig;
}

/** A cloud as given by a caller: everything but name and provider may be left out. */
export type CloudConfigInput = Pick<CloudConfig, 'name' | 'provider'> & Partial<Omit<CloudConfig, 'name' | 'provider' | 'timings'>> & { timings?: Partial<LifecycleTimings> };

/** Timings close to a real cloud's, in cloud time; the speed factor compresses them. */
export const defaultTimings: LifecycleTimings = {
  build: 20_000,
  reboot: 15_000,
  hardReboot: 8_000,
  stop: 10_000,
  start: 12_000,
  rebuild: 25_000,
  delete: 5_000,
  jitter: 0.2,
  deletedRetention: 3_600_000,
  statusChecksAfter: 60_000,
};

const openStackDefaults: Omit<CloudConfig, 'name' | 'provider' | 'timings'> = {
  region: 'RegionOne',
  zones: [{ name: 'nova', hosts: ['compute-1', 'compute-2', 'compute-3'] }],
  images: [{ name: 'fedora-40' }, { name: 'cirros-0.6.2-x86_64-disk' }, { name: 'ubuntu-24.04' }],
  flavors: [
    { id: '1', name: 'm1.tiny', vcpus: 1, ramMb: 512, diskGb: 1 },
    { id: '2', name: 'm1.small', vcpus: 1, ramMb: 2048, diskGb: 20 },
    { id: '3', name: 'm1.medium', vcpus: 2, ramMb: 4096, diskGb: 40 },
    { id: '4', name: 'm1.large', vcpus: 4, ramMb: 8192, diskGb: 80 },
  ],
  // DevStack's names: a tenant network `private` whose floating addresses come from `public`.
  networks: [{ name: 'private', fixedCidr: '10.0.0.0/16', floatingCidr: '172.24.0.0/16' }],
};

const ec2Defaults: Omit<CloudConfig, 'name' | 'provider' | 'timings'> = {
  region: 'us-east-1',
  zones: [
    { name: 'us-east-1a', hosts: ['h-0a1', 'h-0a2', 'h-0a3'] },
    { name: 'us-east-1b', hosts: ['h-0b1', 'h-0b2', 'h-0b3'] },
  ],
  images: [{ name: 'fedora-40' }, { name: 'ubuntu-24.04' }, { name: 'amazon-linux-2023' }],
  flavors: [
    { id: 't3.micro', name: 't3.micro', vcpus: 2, ramMb: 1024, diskGb: 8 },
    { id: 't3.small', name: 't3.small', vcpus: 2, ramMb: 2048, diskGb: 8 },
    { id: 'm5.large', name: 'm5.large', vcpus: 2, ramMb: 8192, diskGb: 8 },
    // Named like Nova flavors so one manifest can target either provider.
    { id: 'm1.small', name: 'm1.small', vcpus: 1, ramMb: 2048, diskGb: 20 },
  ],
  // The default VPC's subnet; public addresses are assigned on start and released on stop.
  networks: [{ name: 'default-vpc', fixedCidr: '172.31.0.0/16', floatingCidr: '54.160.0.0/14', autoAssignFloating: true }],
};

/** Fills in every default of a cloud config. */
export function resolveCloudConfig(input: CloudConfigInput): CloudConfig {
  const defaults = input.provider === 'openstack' ? openStackDefaults : ec2Defaults;
  return {
    ...defaults,
    ...stripUndefined(input),
    name: input.name,
    provider: input.provider,
    timings: { ...defaultTimings, ...stripUndefined(input.timings ?? {}) },
  };
}

/** The clouds a simulator runs when none are configured: one OpenStack region and one EC2 region. */
export function defaultClouds(): CloudConfigInput[] {
  return [
    { name: 'sim-openstack', provider: 'openstack' },
    { name: 'sim-ec2', provider: 'ec2' },
  ];
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
