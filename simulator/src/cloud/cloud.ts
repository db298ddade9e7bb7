/**
 * One simulated cloud: its catalogue (images, flavors, networks, zones and hosts), its VMs and
 * floating addresses, and the timers that move VMs through their lifecycle. Provider APIs call it;
 * the provider-specific rules come in as a LifecycleGuard, so both providers share one core.
 */
import { createHash } from 'node:crypto';
import type { Clock, ScheduledTask } from '@defib/platform';
import type { SeededRandom } from '@defib/platform';
import { AddressPool, AddressPoolExhaustedError } from './address-pool.ts';
import type { CloudConfig, FlavorConfig, LifecycleTimings, NetworkConfig, Provider } from './cloud-config.ts';
import { CloudError } from './cloud-error.ts';
import { ec2Guard } from './ec2-state.ts';
import { begin, complete, initialState, nominalDuration } from './lifecycle.ts';
import type { LifecycleGuard, LifecycleState, Operation, Phase, Verdict } from './lifecycle.ts';
import { novaGuard } from './nova-state.ts';
import { RateLimiter } from './rate-limiter.ts';
import type { CloudEvent, CloudListener, Vm, VmAddress, VmTag } from './vm.ts';

/** An image with its id resolved. */
export interface Image {
  id: string;
  name: string;
  minDiskGb: number;
  minRamMb: number;
  sizeBytes: number;
  createdAt: number;
}

/** A network with its id resolved and its pools. */
export interface Network {
  id: string;
  name: string;
  /** The id of its one subnet (Neutron), which holds the fixed pool. */
  subnetId: string;
  createdAt: number;
  config: NetworkConfig;
  fixed: AddressPool;
  floating: AddressPool | null;
}

/** A floating address a client allocated (an OpenStack floating IP, an EC2 Elastic IP). */
export interface FloatingAddress {
  readonly id: string;
  readonly address: string;
  readonly network: string;
  vmId: string | null;
  associationId: string | null;
  readonly allocatedAt: number;
}

/** What a client asks for when creating VMs. */
export interface CreateVmRequest {
  name: string;
  imageId: string;
  flavorId: string;
  zone?: string | undefined;
  /** Base64, as the client sent it. */
  userData?: string | null | undefined;
  metadata?: Record<string, string> | undefined;
  tags?: VmTag[] | undefined;
  /** Network names or ids; the first configured network when absent; `none`: no interface at all. */
  networks?: string[] | 'none' | undefined;
  description?: string | null | undefined;
  keyName?: string | null | undefined;
}

/** Why an API call was refused before reaching the model. */
export type ApiRejection =
  | { readonly kind: 'throttled'; readonly retryAfterMs: number }
  | { readonly kind: 'unavailable'; readonly message: string }
  | { readonly kind: 'internal-error'; readonly message: string };

/**
 * Consulted before every API call of a cloud (after its rate limit); returning a rejection fails
 * the call in the provider's format. Fault injection plugs in here (errors, latency, outages).
 */
export type ApiGate = (operation: string) => ApiRejection | undefined | Promise<ApiRejection | undefined>;

/** Told of every API call once it is admitted (`undefined`) or refused; for metrics. */
export type ApiObserver = (operation: string, rejection: ApiRejection | undefined) => void;

/**
 * How one VM's boot goes, as decided by the boot policies when it is created: extra build time
 * (cloud time, before the speed factor) and whether the build ends in failure instead of running.
 */
export interface BootPlan {
  readonly extraDelayMs?: number;
  readonly failure?: { readonly message: string; readonly to: 'error' | 'deleted' };
}

/** Consulted once per created VM; fault injection plugs boot failures and slow boots in here. */
export type BootPolicy = (vm: Readonly<Vm>) => BootPlan | undefined;

/** What a reconfiguration may change; name, provider and region stay (the API routes depend on them). */
export interface CloudReconfiguration {
  config?: CloudConfig;
  random?: SeededRandom;
  speedFactor?: number;
}

/** The result of a lifecycle request: the VM, its state before, and what the provider decided. */
export interface OperationOutcome {
  readonly vm: Readonly<Vm>;
  readonly previous: LifecycleState;
  readonly verdict: Verdict;
}

/** What a Cloud needs from its surroundings. */
export interface CloudDependencies {
  clock: Clock;
  /** This cloud's own stream; the cloud forks it per concern. */
  random: SeededRandom;
  /** Divides every lifecycle delay: 60 turns a minute into a second. */
  speedFactor: number;
}

const guards: Record<Provider, LifecycleGuard> = { openstack: novaGuard, ec2: ec2Guard };

export class Cloud {
  #config: CloudConfig;
  readonly name: string;
  readonly provider: Provider;
  readonly region: string;
  readonly #clock: Clock;
  #root: SeededRandom;
  #speedFactor: number;
  readonly #guard: LifecycleGuard;
  readonly #listeners = new Set<CloudListener>();
  readonly #gates = new Set<ApiGate>();
  readonly #apiObservers = new Set<ApiObserver>();
  readonly #timers = new Map<string, ScheduledTask>();
  readonly #vms = new Map<string, Vm>();
  readonly #floating = new Map<string, FloatingAddress>();
  /** Live (not deleted) VMs per host, kept up to date so placement stays O(hosts) at 10,000 VMs. */
  readonly #hostLoad = new Map<string, number>();
  readonly #bootPolicies = new Set<BootPolicy>();
  /** Boot plans of VMs still building, by VM id. */
  readonly #bootPlans = new Map<string, BootPlan>();
  readonly #downHosts = new Set<string>();
  #images: Image[] = [];
  #networks: Network[] = [];
  #rateLimiter: RateLimiter | null = null;
  #ids!: SeededRandom;
  #placement!: SeededRandom;
  #jitter!: SeededRandom;
  #secrets!: SeededRandom;
  #sequence = 0;

  constructor(config: CloudConfig, dependencies: CloudDependencies) {
    if (!(dependencies.speedFactor > 0)) throw new Error(`speedFactor must be positive, got ${dependencies.speedFactor}`);
    if (config.zones.length === 0 || config.zones.some((zone) => zone.hosts.length === 0)) throw new Error(`cloud ${config.name} needs at least one zone, each with a host`);
    if (config.networks.length === 0) throw new Error(`cloud ${config.name} needs at least one network`);
    this.#config = config;
    this.name = config.name;
    this.provider = config.provider;
    this.region = config.region;
    this.#clock = dependencies.clock;
    this.#root = dependencies.random;
    this.#speedFactor = dependencies.speedFactor;
    this.#guard = guards[config.provider];
    this.reset();
  }

  /** Forgets every VM and address and rewinds the random streams: the cloud as first built. */
  reset(): void {
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
    this.#vms.clear();
    this.#floating.clear();
    this.#hostLoad.clear();
    this.#bootPlans.clear();
    this.#downHosts.clear();
    this.#sequence = 0;
    const catalog = this.#root.fork('catalog');
    this.#ids = this.#root.fork('ids');
    this.#placement = this.#root.fork('placement');
    this.#jitter = this.#root.fork('jitter');
    this.#secrets = this.#root.fork('secrets');
    const now = this.#clock.now();
    this.#images = this.config.images.map((image) => ({
      id: image.id ?? (this.provider === 'ec2' ? `ami-${catalog.hex(17)}` : catalog.uuid()),
      name: image.name,
      minDiskGb: image.minDiskGb ?? 0,
      minRamMb: image.minRamMb ?? 0,
      sizeBytes: image.sizeBytes ?? 21_692_416,
      createdAt: now,
    }));
    // A stream of their own, so subnets leave the ids of everything else as they were.
    const subnets = this.#root.fork('catalog:subnets');
    this.#networks = this.config.networks.map((network) => ({
      id: network.id ?? (this.provider === 'ec2' ? `subnet-${catalog.hex(17)}` : catalog.uuid()),
      name: network.name,
      subnetId: subnets.uuid(),
      createdAt: now,
      config: network,
      fixed: new AddressPool(network.fixedCidr, this.#root.fork(`pool:${network.name}:fixed`)),
      floating: network.floatingCidr ? new AddressPool(network.floatingCidr, this.#root.fork(`pool:${network.name}:floating`)) : null,
    }));
    this.#rateLimiter = this.config.rateLimit ? new RateLimiter(this.config.rateLimit, this.#clock) : null;
  }

  /**
   * Resets the cloud under a new seed, speed factor or configuration (a scenario's world). The
   * cloud object, its listeners, gates and boot policies stay, so routes and subscribers keep working.
   */
  reconfigure(change: CloudReconfiguration): void {
    const config = change.config ?? this.#config;
    if (config.name !== this.name || config.provider !== this.provider || config.region !== this.region) {
      throw new Error(`cloud ${this.name}: a reconfiguration cannot change its name, provider or region`);
    }
    if (change.speedFactor !== undefined && !(change.speedFactor > 0)) throw new Error(`speedFactor must be positive, got ${change.speedFactor}`);
    this.#config = config;
    if (change.random) this.#root = change.random;
    if (change.speedFactor !== undefined) this.#speedFactor = change.speedFactor;
    this.reset();
  }

  /** Cancels every pending timer; the cloud is unusable afterwards. */
  dispose(): void {
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
    this.#listeners.clear();
  }

  get config(): CloudConfig {
    return this.#config;
  }

  /** The factor every lifecycle delay is divided by. */
  get speedFactor(): number {
    return this.#speedFactor;
  }

  get timings(): LifecycleTimings {
    return this.config.timings;
  }

  get images(): readonly Image[] {
    return this.#images;
  }

  get flavors(): readonly FlavorConfig[] {
    return this.config.flavors;
  }

  get networks(): readonly Network[] {
    return this.#networks;
  }

  now(): number {
    return this.#clock.now();
  }

  /** Subscribes to every VM event of this cloud; returns the unsubscribe function. */
  on(listener: CloudListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Adds a gate consulted before every API call; returns its removal. */
  addApiGate(gate: ApiGate): () => void {
    this.#gates.add(gate);
    return () => this.#gates.delete(gate);
  }

  /** Adds an observer told the outcome of every API call; returns its removal. */
  observeApi(observer: ApiObserver): () => void {
    this.#apiObservers.add(observer);
    return () => this.#apiObservers.delete(observer);
  }

  /** Adds a policy consulted for every VM created from now on; returns its removal. */
  addBootPolicy(policy: BootPolicy): () => void {
    this.#bootPolicies.add(policy);
    return () => this.#bootPolicies.delete(policy);
  }

  /** Every host of every zone, in configuration order. */
  hosts(): { zone: string; name: string }[] {
    return this.#config.zones.flatMap((zone) => zone.hosts.map((name) => ({ zone: zone.name, name })));
  }

  /**
   * Marks a host down or up. New VMs are placed elsewhere while another host of the zone is up, and
   * anything that would bring a VM on a down host to running (build, start, reboot) ends in error.
   */
  setHostDown(host: string, down: boolean): void {
    if (down) this.#downHosts.add(host);
    else this.#downHosts.delete(host);
  }

  isHostDown(host: string): boolean {
    return this.#downHosts.has(host);
  }

  /** Admits or refuses one API call (rate limit, then gates). */
  async admit(operation: string): Promise<ApiRejection | undefined> {
    const rejection = await this.#decide(operation);
    for (const observer of this.#apiObservers) observer(operation, rejection);
    return rejection;
  }

  async #decide(operation: string): Promise<ApiRejection | undefined> {
    const decision = this.#rateLimiter?.take();
    if (decision && !decision.allowed) return { kind: 'throttled', retryAfterMs: decision.retryAfterMs };
    for (const gate of this.#gates) {
      const rejection = await gate(operation);
      if (rejection) return rejection;
    }
    return undefined;
  }

  /** Every VM on record, deleted ones included until purged, in creation order. */
  list(): Readonly<Vm>[] {
    return [...this.#vms.values()];
  }

  get(id: string): Readonly<Vm> | undefined {
    return this.#vms.get(id);
  }

  /** The VM, or a `vm-not-found` CloudError. */
  require(id: string): Readonly<Vm> {
    return this.#require(id);
  }

  /** The VMs placed on a host that still exist. */
  vmsOnHost(host: string): Readonly<Vm>[] {
    return this.list().filter((vm) => vm.host === host && vm.state.phase !== 'deleted');
  }

  findImage(idOrName: string): Image | undefined {
    return this.#images.find((image) => image.id === idOrName) ?? this.#images.find((image) => image.name === idOrName);
  }

  findFlavor(idOrName: string): FlavorConfig | undefined {
    return this.config.flavors.find((flavor) => flavor.id === idOrName) ?? this.config.flavors.find((flavor) => flavor.name === idOrName);
  }

  /** Creates `count` VMs in one reservation; they start building at once. All or none are created. */
  create(request: CreateVmRequest, count = 1): Readonly<Vm>[] {
    const image = this.findImage(request.imageId);
    if (!image) throw new CloudError({ code: 'unknown-image', imageId: request.imageId }, `image ${request.imageId} not found`);
    const flavor = this.findFlavor(request.flavorId);
    if (!flavor) throw new CloudError({ code: 'unknown-flavor', flavorId: request.flavorId }, `flavor ${request.flavorId} not found`);
    if (request.zone !== undefined && !this.config.zones.some((zone) => zone.name === request.zone)) {
      throw new CloudError({ code: 'unknown-zone', zone: request.zone }, `availability zone ${request.zone} not found`);
    }
    const networks = this.#resolveNetworks(request.networks);
    const limit = this.config.maxInstances;
    const used = limit === undefined ? 0 : this.list().filter((vm) => vm.state.phase !== 'deleted').length;
    if (limit !== undefined && used + count > limit) {
      throw new CloudError({ code: 'quota-exceeded', requested: count, used, limit }, `quota exceeded: requested ${count}, used ${used} of ${limit}`);
    }
    for (const network of networks) {
      if (network.fixed.freeCount < count) throw new CloudError({ code: 'addresses-exhausted', pool: network.fixed.cidr }, `no free address in ${network.fixed.cidr}`);
    }
    const reservationId = this.provider === 'ec2' ? `r-${this.#ids.hex(17)}` : `r-${this.#ids.hex(8)}`;
    const created: Vm[] = [];
    for (let launchIndex = 0; launchIndex < count; launchIndex++) {
      const now = this.#clock.now();
      const host = this.#place(request.zone);
      const vm: Vm = {
        id: this.provider === 'ec2' ? `i-${this.#ids.hex(17)}` : this.#ids.uuid(),
        cloud: this.name,
        sequence: ++this.#sequence,
        reservationId,
        launchIndex,
        name: request.name,
        imageId: image.id,
        flavorId: flavor.id,
        userData: request.userData ?? null,
        description: request.description ?? null,
        metadata: { ...request.metadata },
        tags: [...(request.tags ?? [])],
        zone: host.zone,
        host: host.name,
        addresses: networks.map((network) => ({ network: network.name, address: network.fixed.allocate(), kind: 'fixed', mac: this.#mac() })),
        state: initialState,
        keyName: request.keyName ?? null,
        adminPass: this.#secrets.hex(12),
        createdAt: now,
        updatedAt: now,
        launchedAt: null,
        deletedAt: null,
        fault: null,
      };
      this.#vms.set(vm.id, vm);
      this.#hostLoad.set(vm.host, (this.#hostLoad.get(vm.host) ?? 0) + 1);
      created.push(vm);
      this.#emit({ type: 'vm.created', cloud: this.name, at: now, vm });
      this.#planBoot(vm);
      this.#schedule(vm);
    }
    return created;
  }

  /** What the provider would decide about `operation` on this VM, without doing it. */
  check(id: string, operation: Operation): Verdict {
    return this.#guard(this.#require(id).state, operation);
  }

  /**
   * Asks for a lifecycle operation. Refused operations throw an `invalid-state` CloudError; accepted
   * ones begin at once and finish after their (jittered, speed-scaled) duration.
   */
  request(id: string, operation: Operation): OperationOutcome {
    const vm = this.#require(id);
    const previous = vm.state;
    const verdict = this.#guard(previous, operation);
    if (verdict.kind === 'reject') {
      throw new CloudError(
        { code: 'invalid-state', vmId: id, operation, attribute: verdict.attribute, value: verdict.value },
        `cannot ${operation} ${id} while its ${verdict.attribute} is ${verdict.value}`,
      );
    }
    if (verdict.kind === 'begin') {
      this.#transition(vm, begin(previous, operation), operation, 'requested');
      this.#schedule(vm);
    }
    return { vm, previous, verdict };
  }

  /** Like `request` for several VMs, all or nothing: every VM is checked before any is touched. */
  requestAll(ids: readonly string[], operation: Operation): OperationOutcome[] {
    for (const id of ids) {
      const verdict = this.check(id, operation);
      if (verdict.kind === 'reject') this.request(id, operation);
    }
    return ids.map((id) => this.request(id, operation));
  }

  /** Rebuilds a VM from an image (Nova `rebuild`), optionally renaming it and replacing its metadata. */
  rebuild(id: string, change: { imageId: string; name?: string | undefined; metadata?: Record<string, string> | undefined }): OperationOutcome {
    const image = this.findImage(change.imageId);
    if (!image) throw new CloudError({ code: 'unknown-image', imageId: change.imageId }, `image ${change.imageId} not found`);
    const outcome = this.request(id, 'rebuild');
    const vm = this.#require(id);
    vm.imageId = image.id;
    if (change.name !== undefined) vm.name = change.name;
    if (change.metadata !== undefined) vm.metadata = { ...change.metadata };
    return outcome;
  }

  /** Adds or overwrites tags (by key). */
  setTags(id: string, tags: readonly VmTag[]): void {
    const vm = this.#require(id);
    for (const tag of tags) {
      vm.tags = [...vm.tags.filter((existing) => existing.key !== tag.key), tag];
    }
    vm.updatedAt = this.#clock.now();
  }

  /** Removes tags by key, or only where the value matches when one is given. */
  removeTags(id: string, tags: readonly { key: string; value?: string | undefined }[]): void {
    const vm = this.#require(id);
    vm.tags = vm.tags.filter((existing) => !tags.some((tag) => tag.key === existing.key && (tag.value === undefined || tag.value === existing.value)));
    vm.updatedAt = this.#clock.now();
  }

  /**
   * Puts a VM into a phase at once, cancelling what was in progress: the hook for faults (a crash
   * to `stopped` or `error`, a lost VM to `deleted`).
   */
  forcePhase(id: string, phase: Phase, reason: string): Readonly<Vm> {
    const vm = this.#require(id);
    this.#timers.get(id)?.cancel();
    this.#timers.delete(id);
    if (phase === 'error') vm.fault = { code: 500, message: reason, at: this.#clock.now() };
    this.#transition(vm, { phase, task: null }, null, 'forced', reason);
    return vm;
  }

  /**
   * Gives a VM new addresses, as a DHCP lease change or a provider-side migration would: `fixed`
   * draws a fresh private address per interface; `floating` replaces auto-assigned public addresses
   * and unmaps client-allocated ones (moved away from the VM; on auto-assigning networks a running
   * VM gets a fresh public address instead). One `vm.addresses-changed` event.
   */
  reassignAddresses(id: string, change: { fixed: boolean; floating: boolean }): Readonly<Vm> {
    const vm = this.#require(id);
    if (vm.state.phase === 'deleted') {
      throw new CloudError({ code: 'invalid-state', vmId: id, operation: 'associate-address', attribute: 'phase', value: vm.state.phase }, `cannot change the addresses of ${id} while it is deleted`);
    }
    const previous = vm.addresses;
    const network = (name: string): Network | undefined => this.#networks.find((candidate) => candidate.name === name);
    let next: VmAddress[] = [];
    for (const address of vm.addresses) {
      const pools = network(address.network);
      if (address.kind === 'fixed' && change.fixed && pools && pools.fixed.freeCount > 0) {
        const fresh = this.#allocateFrom(pools.fixed);
        pools.fixed.release(address.address);
        next.push({ ...address, address: fresh });
      } else if (address.kind === 'floating' && change.floating && address.floatingId === undefined && pools?.floating && pools.floating.freeCount > 0) {
        const fresh = this.#allocateFrom(pools.floating);
        pools.floating.release(address.address);
        next.push({ ...address, address: fresh });
      } else if (address.kind === 'floating' && change.floating && address.floatingId !== undefined) {
        const floating = this.#floating.get(address.floatingId);
        if (floating) {
          floating.vmId = null;
          floating.associationId = null;
        }
      } else {
        next.push(address);
      }
    }
    vm.addresses = next;
    if (change.floating && vm.state.phase === 'running') this.#autoAssignFloating(vm);
    next = vm.addresses;
    if (next.length !== previous.length || next.some((address, index) => address.address !== previous[index]?.address)) this.#addressesChanged(vm, previous);
    return vm;
  }

  /** Floating addresses allocated by clients, in allocation order. */
  floatingAddresses(): readonly FloatingAddress[] {
    return [...this.#floating.values()];
  }

  /** Allocates a floating address from a network's floating pool (the first network's by default). */
  allocateFloating(networkName?: string): FloatingAddress {
    const network = networkName === undefined ? this.#networks.find((candidate) => candidate.floating) : this.#resolveNetworks([networkName])[0];
    if (!network?.floating) {
      const name = networkName ?? this.#networks[0]?.name ?? '';
      throw new CloudError({ code: 'no-floating-pool', network: name }, `network ${name} has no floating pool`);
    }
    const address = this.#allocateFrom(network.floating);
    const floating: FloatingAddress = {
      id: this.provider === 'ec2' ? `eipalloc-${this.#ids.hex(17)}` : this.#ids.uuid(),
      address,
      network: network.name,
      vmId: null,
      associationId: null,
      allocatedAt: this.#clock.now(),
    };
    this.#floating.set(floating.id, floating);
    return floating;
  }

  /** Finds an allocated floating address by id or by the address itself. */
  findFloating(idOrAddress: string): FloatingAddress | undefined {
    return this.#floating.get(idOrAddress) ?? [...this.#floating.values()].find((floating) => floating.address === idOrAddress);
  }

  /**
   * Maps a floating address onto a VM (replacing any floating address the VM had on that network).
   * Moving an address that is already mapped elsewhere needs `allowReassociation`.
   */
  associateFloating(idOrAddress: string, vmId: string, options: { allowReassociation?: boolean } = {}): FloatingAddress {
    const floating = this.#requireFloating(idOrAddress);
    const vm = this.#require(vmId);
    if (vm.state.phase !== 'running' && vm.state.phase !== 'stopped') {
      throw new CloudError({ code: 'invalid-state', vmId, operation: 'associate-address', attribute: 'phase', value: vm.state.phase }, `cannot associate an address with ${vmId} while it is ${vm.state.phase}`);
    }
    if (floating.vmId === vmId) return floating;
    if (floating.vmId !== null) {
      if (!options.allowReassociation) throw new CloudError({ code: 'address-in-use', address: floating.address, vmId: floating.vmId }, `${floating.address} is associated with ${floating.vmId}`);
      this.disassociateFloating(floating.id);
    }
    const fixed = vm.addresses.find((address) => address.kind === 'fixed' && address.network === floating.network) ?? vm.addresses.find((address) => address.kind === 'fixed');
    const previous = vm.addresses;
    this.#releaseFloatingOf(vm, fixed?.network ?? floating.network);
    floating.vmId = vmId;
    floating.associationId = this.provider === 'ec2' ? `eipassoc-${this.#ids.hex(17)}` : floating.id;
    vm.addresses = [...vm.addresses, { network: fixed?.network ?? floating.network, address: floating.address, kind: 'floating', mac: fixed?.mac ?? this.#mac(), floatingId: floating.id }];
    this.#addressesChanged(vm, previous);
    return floating;
  }

  /** Unmaps a floating address; a running VM on an auto-assigning network gets a fresh public address. */
  disassociateFloating(idOrAddress: string): FloatingAddress {
    const floating = this.#requireFloating(idOrAddress);
    const vm = floating.vmId ? this.#vms.get(floating.vmId) : undefined;
    floating.vmId = null;
    floating.associationId = null;
    if (vm) {
      const previous = vm.addresses;
      vm.addresses = vm.addresses.filter((address) => address.floatingId !== floating.id);
      if (vm.state.phase === 'running') this.#autoAssignFloating(vm);
      this.#addressesChanged(vm, previous);
    }
    return floating;
  }

  /** Returns a floating address to its pool; it must not be associated. */
  releaseFloating(idOrAddress: string): void {
    const floating = this.#requireFloating(idOrAddress);
    if (floating.vmId !== null) throw new CloudError({ code: 'address-in-use', address: floating.address, vmId: floating.vmId }, `${floating.address} is associated with ${floating.vmId}`);
    this.#floating.delete(floating.id);
    this.#networks.find((network) => network.name === floating.network)?.floating?.release(floating.address);
  }

  /** OpenStack's `hostId`: an opaque per-project hash of the host name. */
  hostIdOf(vm: Readonly<Vm>, projectId: string): string {
    return createHash('sha224').update(projectId + vm.host).digest('hex');
  }

  #require(id: string): Vm {
    const vm = this.#vms.get(id);
    if (!vm) throw new CloudError({ code: 'vm-not-found', vmId: id }, `VM ${id} not found`);
    return vm;
  }

  #requireFloating(idOrAddress: string): FloatingAddress {
    const floating = this.findFloating(idOrAddress);
    if (!floating) throw new CloudError({ code: 'address-not-found', address: idOrAddress }, `address ${idOrAddress} not found`);
    return floating;
  }

  #resolveNetworks(requested: readonly string[] | 'none' | undefined): Network[] {
    if (requested === 'none') return [];
    const first = this.#networks[0];
    if (!requested || requested.length === 0) return first ? [first] : [];
    return requested.map((idOrName) => {
      const network = this.#networks.find((candidate) => candidate.id === idOrName || candidate.name === idOrName);
      if (!network) throw new CloudError({ code: 'unknown-network', network: idOrName }, `network ${idOrName} not found`);
      return network;
    });
  }

  /** The least loaded host of the zone (or of all zones), ties broken by the seeded stream. */
  #place(zoneName: string | undefined): { zone: string; name: string } {
    const load = this.#hostLoad;
    const all = this.config.zones.filter((zone) => zoneName === undefined || zone.name === zoneName).flatMap((zone) => zone.hosts.map((name) => ({ zone: zone.name, name })));
    const up = all.filter((host) => !this.#downHosts.has(host.name));
    // With every candidate down the VM is still placed, and fails its build there.
    const candidates = up.length > 0 ? up : all;
    const lightest = Math.min(...candidates.map((host) => load.get(host.name) ?? 0));
    return this.#placement.pick(candidates.filter((host) => (load.get(host.name) ?? 0) === lightest));
  }

  #mac(): string {
    const prefix = this.provider === 'ec2' ? '0e' : 'fa:16:3e';
    const octets = this.provider === 'ec2' ? 5 : 3;
    return [prefix, ...Array.from({ length: octets }, () => this.#ids.hex(2))].join(':');
  }

  #allocateFrom(pool: AddressPool): string {
    try {
      return pool.allocate();
    } catch (error) {
      if (error instanceof AddressPoolExhaustedError) throw new CloudError({ code: 'addresses-exhausted', pool: pool.cidr }, error.message);
      throw error;
    }
  }

  #planBoot(vm: Vm): void {
    let extraDelayMs = 0;
    let failure: BootPlan['failure'];
    for (const policy of this.#bootPolicies) {
      const plan = policy(vm);
      extraDelayMs += plan?.extraDelayMs ?? 0;
      failure ??= plan?.failure;
    }
    if (extraDelayMs > 0 || failure) this.#bootPlans.set(vm.id, failure ? { extraDelayMs, failure } : { extraDelayMs });
  }

  #schedule(vm: Vm): void {
    this.#timers.get(vm.id)?.cancel();
    this.#timers.delete(vm.id);
    const nominal = nominalDuration(vm.state, this.config.timings);
    if (vm.state.task === null && vm.state.phase !== 'building') return;
    const building = vm.state.phase === 'building' && vm.state.task === null;
    const extra = building ? (this.#bootPlans.get(vm.id)?.extraDelayMs ?? 0) : 0;
    const delay = (this.#jitter.jitter(nominal, this.config.timings.jitter) + extra) / this.#speedFactor;
    this.#timers.set(
      vm.id,
      this.#clock.schedule(delay, () => {
        this.#timers.delete(vm.id);
        const operation = vm.state.task ?? 'build';
        const failure = operation === 'build' ? this.#bootPlans.get(vm.id)?.failure : undefined;
        if (operation === 'build') this.#bootPlans.delete(vm.id);
        const next = complete(vm.state);
        if (failure) return this.#fail(vm, failure.to, operation, failure.message);
        if (next.phase === 'running' && this.#downHosts.has(vm.host)) return this.#fail(vm, 'error', operation, `host ${vm.host} is down`);
        this.#transition(vm, next, operation, 'completed');
      }),
    );
  }

  /** Ends an operation in failure: the VM goes to `error` (or is deleted) with a fault saying why. */
  #fail(vm: Vm, to: 'error' | 'deleted', operation: Operation | 'build', message: string): void {
    const fault = { code: 500, message, at: this.#clock.now() };
    vm.fault = fault;
    this.#transition(vm, { phase: to, task: null }, operation, 'completed', message);
    // A completed transition to `deleted` clears the fault; this one is the reason for it.
    vm.fault = fault;
  }

  #transition(vm: Vm, to: LifecycleState, operation: Operation | 'build' | null, cause: 'requested' | 'completed' | 'forced', reason?: string): void {
    const from = vm.state;
    const now = this.#clock.now();
    vm.state = to;
    vm.updatedAt = now;
    if (to.phase === 'running' && to.task === null && (from.phase !== 'running' || from.task === 'rebuild')) vm.launchedAt = now;
    if (to.phase !== 'error' && cause === 'completed') vm.fault = null;
    const previousAddresses = vm.addresses;
    if (to.phase === 'running' && from.phase !== 'running') this.#autoAssignFloating(vm);
    if (to.phase !== 'running' && from.phase === 'running') this.#releaseAutoFloating(vm);
    if (to.phase === 'deleted' && from.phase !== 'deleted') this.#retire(vm, now);
    const event: CloudEvent = { type: 'vm.transition', cloud: this.name, at: now, vm, from, to, operation, cause };
    this.#emit(reason === undefined ? event : { ...event, reason });
    if (previousAddresses !== vm.addresses) this.#addressesChanged(vm, previousAddresses);
  }

  /** Frees a deleted VM's addresses and schedules its record's removal. */
  #retire(vm: Vm, now: number): void {
    vm.deletedAt = now;
    this.#bootPlans.delete(vm.id);
    this.#hostLoad.set(vm.host, (this.#hostLoad.get(vm.host) ?? 1) - 1);
    for (const address of vm.addresses) {
      const network = this.#networks.find((candidate) => candidate.name === address.network);
      if (address.kind === 'fixed') network?.fixed.release(address.address);
      else if (address.floatingId === undefined) network?.floating?.release(address.address);
    }
    for (const floating of this.#floating.values()) {
      if (floating.vmId === vm.id) {
        floating.vmId = null;
        floating.associationId = null;
      }
    }
    vm.addresses = [];
    this.#timers.set(
      vm.id,
      this.#clock.schedule(this.config.timings.deletedRetention / this.#speedFactor, () => {
        this.#timers.delete(vm.id);
        this.#vms.delete(vm.id);
        this.#emit({ type: 'vm.purged', cloud: this.name, at: this.#clock.now(), vmId: vm.id });
      }),
    );
  }

  #autoAssignFloating(vm: Vm): void {
    for (const address of vm.addresses.filter((candidate) => candidate.kind === 'fixed')) {
      const network = this.#networks.find((candidate) => candidate.name === address.network);
      if (!network?.floating || !network.config.autoAssignFloating) continue;
      if (vm.addresses.some((candidate) => candidate.kind === 'floating' && candidate.network === network.name)) continue;
      // Public pools can run dry in big runs; EC2 would still launch, so go without.
      if (network.floating.freeCount === 0) continue;
      vm.addresses = [...vm.addresses, { network: network.name, address: network.floating.allocate(), kind: 'floating', mac: address.mac }];
    }
  }

  #releaseAutoFloating(vm: Vm): void {
    if (!vm.addresses.some((address) => address.kind === 'floating' && address.floatingId === undefined)) return;
    for (const address of vm.addresses) {
      if (address.kind === 'floating' && address.floatingId === undefined) this.#networks.find((network) => network.name === address.network)?.floating?.release(address.address);
    }
    vm.addresses = vm.addresses.filter((address) => address.kind === 'fixed' || address.floatingId !== undefined);
  }

  #releaseFloatingOf(vm: Vm, networkName: string): void {
    for (const address of vm.addresses.filter((candidate) => candidate.kind === 'floating' && candidate.network === networkName)) {
      if (address.floatingId === undefined) this.#networks.find((network) => network.name === networkName)?.floating?.release(address.address);
      else {
        const floating = this.#floating.get(address.floatingId);
        if (floating) {
          floating.vmId = null;
          floating.associationId = null;
        }
      }
    }
    vm.addresses = vm.addresses.filter((candidate) => !(candidate.kind === 'floating' && candidate.network === networkName));
  }

  #addressesChanged(vm: Vm, previous: readonly VmAddress[]): void {
    vm.updatedAt = this.#clock.now();
    this.#emit({ type: 'vm.addresses-changed', cloud: this.name, at: this.#clock.now(), vm, previous });
  }

  #emit(event: CloudEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
