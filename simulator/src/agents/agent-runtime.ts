/**
 * Runs the in-guest agents of every simulated VM. It follows the clouds' lifecycle events: when a
 * VM's guest comes up and its user data holds an agent configuration, an agent boots (new
 * `bootId`, sequence from 1); when the guest goes down (stop, crash, reboot, delete) the agent
 * goes silent. All agents share one timer wheel and, per broker URL, a small pool of connections.
 * Faults reach the agents only through {@link AgentControls}.
 */
import { decodeAgentConfig, heartbeatRoutingKey } from '@defib/contracts';
import type { AgentConfig } from '@defib/contracts';
import type { Logger } from '@defib/platform';
import type { Clock } from '@defib/platform';
import type { Cloud } from '../cloud/cloud.ts';
import { isGuestRunning } from '../cloud/lifecycle.ts';
import type { CloudEvent, Vm } from '../cloud/vm.ts';
import type { SeededRandom } from '@defib/platform';
import { Agent, defaultAgentTimings } from './agent.ts';
import type { AgentTimings, GuestConditions } from './agent.ts';
import type { AgentControls, AgentSnapshot, ResourceFault } from './agent-controls.ts';
import type { AgentLink, AgentNetwork } from './agent-network.ts';
import { TimerWheel } from '@defib/platform';

export interface AgentRuntimeOptions {
  clouds: Iterable<Cloud>;
  clock: Clock;
  /** The runtime's stream; each VM's agents draw from their own fork of it. */
  random: SeededRandom;
  /**
   * Divides agent timings (not heartbeat intervals, which the monitor relies on in real time); a
   * function when it changes at run time (a scenario's own speed).
   */
  speedFactor: number | (() => number);
  network: AgentNetwork;
  timings?: Partial<AgentTimings>;
  /** Width of a timer-wheel tick: the most a beat is delayed by rounding. Default 10 ms. */
  tickMs?: number;
  logger: Logger;
}

/** What the runtime knows about a VM, from its first boot until it is purged. */
interface Guest {
  readonly vm: Readonly<Vm>;
  /** Read once from the user data; null when the VM runs without an agent. */
  readonly config: AgentConfig | null;
  readonly random: SeededRandom;
  readonly conditions: GuestConditions;
  agent: Agent | undefined;
}

/** Which agents `snapshots` returns: those of one VM, or of one assembly (by id or name). */
export interface AgentFilter {
  readonly vm?: string;
  readonly assembly?: string;
}

/** Heartbeats the agents handed to the network since the runtime was built (never reset). */
export interface HeartbeatCounts {
  /** Accepted by the link. */
  readonly published: number;
  /** Dropped because the link was down or congested (a silent agent sends nothing and counts for neither). */
  readonly dropped: number;
}

const HEARTBEAT_KEY_PREFIX = heartbeatRoutingKey('');

export class AgentRuntime implements AgentControls {
  readonly #options: AgentRuntimeOptions;
  #random: SeededRandom;
  readonly #timings: AgentTimings;
  readonly #logger: Logger;
  readonly #wheel: TimerWheel;
  readonly #guests = new Map<string, Guest>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #heartbeats = { published: 0, dropped: 0 };
  readonly #rejectedCommands = { 'bad-mac': 0, malformed: 0 };
  #closed = false;

  constructor(options: AgentRuntimeOptions) {
    this.#options = options;
    this.#random = options.random;
    this.#timings = { ...defaultAgentTimings, ...options.timings };
    this.#logger = options.logger.child({ component: 'agents' });
    this.#wheel = new TimerWheel(options.clock, {
      ...(options.tickMs === undefined ? {} : { tickMs: options.tickMs }),
      onBatchStart: () => options.network.beginBatch?.(),
      onBatchEnd: () => options.network.endBatch?.(),
      onError: (error) => this.#logger.error({ err: error }, 'agent failed to beat'),
    });
    for (const cloud of options.clouds) this.#unsubscribe.push(cloud.on((event) => this.#follow(event)));
  }

  /** How many agents are running (booted and not shut down). */
  get runningCount(): number {
    let count = 0;
    for (const guest of this.#guests.values()) if (guest.agent) count++;
    return count;
  }

  partition(vmId: string, untilMs?: number): boolean {
    const guest = this.#running(vmId);
    if (!guest) return false;
    guest.conditions.partitionedUntil = untilMs ?? Number.POSITIVE_INFINITY;
    return true;
  }

  hang(vmId: string): boolean {
    const guest = this.#running(vmId);
    guest?.agent?.setHung(true);
    return guest !== undefined;
  }

  heal(vmId: string): boolean {
    // A partition outlives boots, so it is lifted even while the VM is down.
    const guest = this.#guests.get(vmId);
    if (guest) guest.conditions.partitionedUntil = undefined;
    guest?.agent?.setHung(false);
    return guest?.agent !== undefined;
  }

  crashResource(vmId: string, resource: string): boolean {
    return this.#running(vmId)?.agent?.crashResource(resource) ?? false;
  }

  setResourceFault(vmId: string, resource: string, fault: ResourceFault | undefined): boolean {
    const guest = this.#guests.get(vmId);
    // Lasting faults outlive boots, so clearing one works even while the VM is down.
    if (fault === undefined) guest?.conditions.resourceFaults.delete(resource);
    if (!guest?.agent?.hasResource(resource)) return false;
    if (fault !== undefined) guest.conditions.resourceFaults.set(resource, fault);
    return guest.agent.resourceFaultChanged(resource);
  }

  snapshot(vmId: string): AgentSnapshot | undefined {
    return this.#guests.get(vmId)?.agent?.snapshot();
  }

  /** Every running agent (of one VM or assembly, when asked), for the control API. */
  snapshots(filter: AgentFilter = {}): AgentSnapshot[] {
    const all: AgentSnapshot[] = [];
    for (const guest of this.#guests.values()) {
      if (!guest.agent || !matches(guest, filter)) continue;
      all.push(guest.agent.snapshot());
    }
    return all;
  }

  get heartbeats(): HeartbeatCounts {
    return { ...this.#heartbeats };
  }

  /** Commands the agents dropped unread since the runtime was built: a bad or missing MAC, or not a command. */
  get rejectedCommands(): { readonly 'bad-mac': number; readonly malformed: number } {
    return { ...this.#rejectedCommands };
  }

  /**
   * The broker URLs that running agents publish to but the network cannot reach now, for
   * readiness. Empty when no agent runs, or when the network cannot tell.
   */
  unreachableBrokers(): string[] {
    const { network } = this.#options;
    if (network.isConnected === undefined) return [];
    const brokers = new Set<string>();
    for (const guest of this.#guests.values()) if (guest.agent && guest.config) brokers.add(guest.config.brokerUrl);
    return [...brokers].filter((brokerUrl) => network.isConnected?.(brokerUrl) === false);
  }

  /** Silences every agent and forgets every VM (the clouds were reset), drawing from `random` from now on if given. */
  reset(random?: SeededRandom): void {
    for (const guest of this.#guests.values()) guest.agent?.stop();
    this.#guests.clear();
    if (random) this.#random = random;
  }

  /** Stops every agent and closes the broker connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.reset();
    this.#wheel.stop();
    await this.#options.network.close();
  }

  #running(vmId: string): Guest | undefined {
    const guest = this.#guests.get(vmId);
    return guest?.agent ? guest : undefined;
  }

  #follow(event: CloudEvent): void {
    try {
      switch (event.type) {
        case 'vm.created':
          return;
        case 'vm.transition': {
          const was = isGuestRunning(event.from);
          const is = isGuestRunning(event.to);
          if (was && !is) this.#shutDown(event.vm.id);
          else if (!was && is) this.#boot(event.vm);
          return;
        }
        case 'vm.addresses-changed':
          this.#guests.get(event.vm.id)?.agent?.addressesChanged();
          return;
        case 'vm.purged':
          this.#shutDown(event.vmId);
          this.#guests.delete(event.vmId);
          return;
      }
    } catch (error) {
      this.#logger.error({ err: error, event: event.type }, 'agent runtime failed to follow a cloud event');
    }
  }

  #boot(vm: Readonly<Vm>): void {
    if (this.#closed) return;
    const guest = this.#guests.get(vm.id) ?? this.#remember(vm);
    if (guest.config === null) return;
    guest.agent?.stop();
    const { clock, network, speedFactor } = this.#options;
    const speed = typeof speedFactor === 'number' ? () => speedFactor : speedFactor;
    const agent = new Agent({
      vm,
      config: guest.config,
      clock,
      wheel: this.#wheel,
      link: this.#counted(network.link(guest.config.brokerUrl)),
      random: guest.random,
      timings: this.#timings,
      speedFactor: speed,
      conditions: guest.conditions,
      onRejectedCommand: (reason) => this.#rejectedCommands[reason]++,
      logger: this.#logger,
    });
    guest.agent = agent;
    agent.start();
    this.#logger.debug({ vmId: vm.id, assemblyId: guest.config.assemblyId, bootId: agent.bootId }, 'agent booted');
  }

  /** The link, counting the heartbeats that go through it. */
  #counted(link: AgentLink): AgentLink {
    const counts = this.#heartbeats;
    return {
      publish(exchange, routingKey, body) {
        const sent = link.publish(exchange, routingKey, body);
        if (routingKey.startsWith(HEARTBEAT_KEY_PREFIX)) {
          if (sent) counts.published++;
          else counts.dropped++;
        }
        return sent;
      },
      listenForCommands: (exchange, assemblyId, deliver) => link.listenForCommands(exchange, assemblyId, deliver),
    };
  }

  #shutDown(vmId: string): void {
    const guest = this.#guests.get(vmId);
    if (!guest?.agent) return;
    guest.agent.stop();
    guest.agent = undefined;
    this.#logger.debug({ vmId }, 'agent shut down');
  }

  #remember(vm: Readonly<Vm>): Guest {
    const guest: Guest = {
      vm,
      config: this.#readConfig(vm),
      random: this.#random.fork(`agent:${vm.cloud}:${vm.id}`),
      conditions: { partitionedUntil: undefined, resourceFaults: new Map() },
      agent: undefined,
    };
    this.#guests.set(vm.id, guest);
    return guest;
  }

  #readConfig(vm: Readonly<Vm>): AgentConfig | null {
    if (vm.userData === null || vm.userData.trim() === '') return null;
    try {
      return decodeAgentConfig(vm.userData);
    } catch (error) {
      // User data for something else (a cloud-init script): the VM runs without an agent.
      this.#logger.debug({ err: error, vmId: vm.id }, 'user data is not an agent configuration; no agent');
      return null;
    }
  }
}

function matches(guest: Guest, filter: AgentFilter): boolean {
  if (filter.vm !== undefined && guest.vm.id !== filter.vm) return false;
  if (filter.assembly !== undefined && guest.config?.assemblyId !== filter.assembly && guest.config?.assembly !== filter.assembly) return false;
  return true;
}
