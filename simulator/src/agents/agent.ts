/**
 * One boot of one VM's in-guest agent: it beats on the shared timer wheel, keeps its resources'
 * states, and carries out commands with correlated replies. A reboot makes a new Agent (new
 * `bootId`, sequence from 1); what outlives a boot (a network partition, lasting resource faults)
 * is the VM's, in {@link GuestConditions}.
 */
import { AGENT_PROTOCOL_VERSION, decodeAgentKey, heartbeatRoutingKey, parseAgentCommand, replyRoutingKey, signAgentMessage, verifyAgentMessage } from '@defib/contracts';
import type { AgentCommand, AgentConfig, AgentKey, PingReply, ResourceReply, ResourceState, Unsigned } from '@defib/contracts';
import type { Logger } from '@defib/platform';
import type { Clock, ScheduledTask } from '@defib/platform';
import type { Vm } from '../cloud/vm.ts';
import type { SeededRandom } from '@defib/platform';
import type { AgentSnapshot, ResourceFault } from './agent-controls.ts';
import type { AgentLink } from './agent-network.ts';
import { HeartbeatEncoder, toResourceStatuses } from './heartbeat-encoder.ts';
import { CRASH_DETAIL, enter, newResource, planCommand, startOutcome } from './resource.ts';
import type { Outcome, Resource } from './resource.ts';
import type { TimerWheel, WheelTask } from '@defib/platform';

/** How long agents take to do things, in cloud time (divided by the speed factor, jittered). */
export interface AgentTimings {
  /** From the guest running to the agent's first beat; a random phase within one interval is added so beats spread out. */
  agentStart: number;
  /** A resource's start at boot. */
  resourceStart: number;
  restart: number;
  start: number;
  stop: number;
  reconfigure: number;
  /** Relative spread of every duration: 0.2 means ±20 %. */
  jitter: number;
}

export const defaultAgentTimings: AgentTimings = { agentStart: 1_000, resourceStart: 2_000, restart: 2_000, start: 2_000, stop: 1_000, reconfigure: 500, jitter: 0.2 };

/** What a VM's agent lives with across boots, set by faults until healed. */
export interface GuestConditions {
  /** Heartbeats, commands and replies are lost while the clock is before this (Infinity: until healed). */
  partitionedUntil: number | undefined;
  readonly resourceFaults: Map<string, ResourceFault>;
}

export interface AgentDependencies {
  vm: Readonly<Vm>;
  config: AgentConfig;
  clock: Clock;
  wheel: TimerWheel;
  link: AgentLink;
  /** The VM's own stream, so that one VM's boots never shift another's ids or timings. */
  random: SeededRandom;
  timings: AgentTimings;
  /** The speed factor now: agent timings are divided by it. */
  speedFactor: () => number;
  conditions: GuestConditions;
  /** Told of every command dropped unread: a bad or missing MAC, or not a command at all. */
  onRejectedCommand?: (reason: 'bad-mac' | 'malformed') => void;
  logger: Logger;
}

/** Commands remembered per agent for duplicate detection. */
const REMEMBERED_COMMANDS = 1_000;

/** A command that acts on a resource (every action but `ping`). */
type ResourceCommand = Exclude<AgentCommand, { action: 'ping' }>;

interface ResourceSlot {
  readonly resource: Resource;
  /** The boot-time start or the pending flap crash. */
  timer: ScheduledTask | undefined;
  /** Commands wait their turn: one at a time per resource, as a service manager does it. */
  readonly queue: ResourceCommand[];
  busy: boolean;
}

export class Agent {
  readonly bootId: string;
  readonly #deps: AgentDependencies;
  /** The assembly's key from the agent configuration: signs beats and replies, verifies commands. */
  readonly #key: AgentKey;
  readonly #encoder: HeartbeatEncoder;
  readonly #heartbeatKey: string;
  readonly #replyKey: string;
  readonly #resources = new Map<string, ResourceSlot>();
  readonly #commandTimers = new Set<ScheduledTask>();
  /** Command ids seen, with the signed reply once there is one (re-sent on a duplicate). */
  readonly #commands = new Map<string, Buffer | undefined>();
  #firstBeatAt = 0;
  #nextBeatAt: number | undefined;
  #sequence = 0;
  /** One object for all this boot's beats: the wheel holds it, so beating allocates nothing lasting. */
  readonly #beatTask: WheelTask = { onDue: (scheduledAt) => this.#beat(scheduledAt) };
  #unlisten: (() => void) | undefined;
  #hung = false;
  #stopped = false;

  constructor(deps: AgentDependencies) {
    this.#deps = deps;
    this.bootId = deps.random.uuid();
    this.#key = decodeAgentKey(deps.config.key);
    this.#heartbeatKey = heartbeatRoutingKey(deps.config.assemblyId);
    this.#replyKey = replyRoutingKey(deps.config.assemblyId);
    this.#encoder = new HeartbeatEncoder({
      assemblyId: deps.config.assemblyId,
      deployableId: deps.config.deployableId,
      instanceId: deps.vm.id,
      bootId: this.bootId,
      intervalMs: deps.config.heartbeatIntervalMs,
      key: this.#key,
    });
  }

  get vmId(): string {
    return this.#deps.vm.id;
  }

  get assemblyId(): string {
    return this.#deps.config.assemblyId;
  }

  /** Boots: resources begin starting, commands are listened for, the first beat is scheduled. */
  start(): void {
    const { clock, config, conditions, random, timings } = this.#deps;
    const now = clock.now();
    for (const { name, params } of config.resources) {
      const slot: ResourceSlot = { resource: newResource(name, params, now), timer: undefined, queue: [], busy: false };
      this.#resources.set(name, slot);
      slot.timer = clock.schedule(this.#duration(timings.resourceStart), () => {
        slot.timer = undefined;
        const outcome = startOutcome(conditions.resourceFaults.get(name));
        this.#settle(slot, outcome.state, outcome.error);
      });
    }
    this.#encoder.setAddresses(this.#deps.vm.addresses);
    this.#encoder.setResources(this.#resourceList());
    this.#unlisten = this.#deps.link.listenForCommands(config.exchange, config.assemblyId, (body) => this.#receive(body));
    this.#firstBeatAt = now + this.#duration(timings.agentStart) + random.next() * config.heartbeatIntervalMs;
    this.#scheduleBeat(this.#firstBeatAt);
  }

  /** Shuts down (the guest stopped, crashed or rebooted): silent from now on. */
  stop(): void {
    if (this.#stopped) return;
    // The wheel still holds the beat task; #beat ignores it from now on.
    this.#stopped = true;
    this.#nextBeatAt = undefined;
    this.#unlisten?.();
    for (const slot of this.#resources.values()) slot.timer?.cancel();
    for (const timer of this.#commandTimers) timer.cancel();
    this.#commandTimers.clear();
  }

  /** The VM's addresses changed; the next beat carries the new ones. */
  addressesChanged(): void {
    this.#encoder.setAddresses(this.#deps.vm.addresses);
  }

  /** The guest hangs (true) or comes back (false). */
  setHung(hung: boolean): void {
    this.#hung = hung;
  }

  get hung(): boolean {
    return this.#hung;
  }

  /** Whether messages to and from the agent are being lost (hung or partitioned). */
  get silent(): boolean {
    return this.#hung || this.#partitioned();
  }

  hasResource(name: string): boolean {
    return this.#resources.has(name);
  }

  /** The resource crashes now. */
  crashResource(name: string): boolean {
    const slot = this.#resources.get(name);
    if (!slot) return false;
    this.#crash(slot);
    return true;
  }

  /** The resource's lasting fault was set or cleared: a flap starts counting from now if it runs. */
  resourceFaultChanged(name: string): boolean {
    const slot = this.#resources.get(name);
    if (!slot) return false;
    if (slot.resource.state === 'running' && !slot.busy) {
      slot.timer?.cancel();
      slot.timer = undefined;
      this.#armFlap(slot);
    }
    return true;
  }

  snapshot(): AgentSnapshot {
    const { conditions, config, vm } = this.#deps;
    const until = conditions.partitionedUntil;
    return {
      vmId: vm.id,
      assemblyId: config.assemblyId,
      bootId: this.bootId,
      sequence: this.#sequence,
      silent: this.silent,
      hung: this.#hung,
      partitionedUntil: until === undefined || until <= this.#deps.clock.now() ? null : until,
      nextBeatAt: this.#nextBeatAt ?? null,
      resources: this.#resourceList().map(({ name, state, params }) => {
        const fault = conditions.resourceFaults.get(name)?.kind;
        // Parameters only when it has any: what a reconfigure gave it is visible to tests and the control API.
        return { name, state, ...(fault === undefined ? {} : { fault }), ...(Object.keys(params).length === 0 ? {} : { params: { ...params } }) };
      }),
    };
  }

  #partitioned(): boolean {
    const until = this.#deps.conditions.partitionedUntil;
    return until !== undefined && this.#deps.clock.now() < until;
  }

  #duration(nominal: number): number {
    return this.#deps.random.jitter(nominal, this.#deps.timings.jitter) / this.#deps.speedFactor();
  }

  #resourceList(): Resource[] {
    return [...this.#resources.values()].map((slot) => slot.resource);
  }

  #scheduleBeat(at: number): void {
    this.#nextBeatAt = at;
    this.#deps.wheel.schedule(at, this.#beatTask);
  }

  /**
   * One beat slot. The sequence numbers slots (`firstBeatAt + (sequence - 1) × interval`), so a
   * beat lost to a partition, a hang or a stalled process leaves a gap the monitor can see.
   */
  #beat(scheduledAt: number): void {
    if (this.#stopped) return;
    const { clock, config, link } = this.#deps;
    const interval = config.heartbeatIntervalMs;
    const now = clock.now();
    const sequence = 1 + Math.round((scheduledAt - this.#firstBeatAt) / interval);
    this.#sequence = sequence;
    if (!this.silent) link.publish(config.exchange, this.#heartbeatKey, this.#encoder.encode(sequence, now));
    let next = scheduledAt + interval;
    // Behind by more than an interval (a stalled event loop): skip to the next slot still ahead.
    if (next <= now) next += Math.ceil((now - next + 1) / interval) * interval;
    this.#scheduleBeat(next);
  }

  /**
   * A command arrives. Only one signed with this assembly's key is read (no VM, nor anyone without
   * the installation secret, can command this agent); a replay is answered with the reply already
   * given, never run twice, and one past its deadline is refused.
   */
  #receive(body: Buffer): void {
    if (this.#stopped || this.silent) return;
    if (!verifyAgentMessage(body, this.#key)) {
      this.#deps.onRejectedCommand?.('bad-mac');
      this.#deps.logger.debug({ vmId: this.vmId }, 'agent dropped a command with a bad or missing MAC');
      return;
    }
    let command: AgentCommand;
    try {
      command = parseAgentCommand(body);
    } catch (error) {
      this.#deps.onRejectedCommand?.('malformed');
      this.#deps.logger.warn({ err: error, vmId: this.vmId }, 'agent dropped an invalid command');
      return;
    }
    if (command.assemblyId !== this.#deps.config.assemblyId) return;
    if (this.#commands.has(command.commandId)) {
      const earlier = this.#commands.get(command.commandId);
      if (earlier) this.#publishReply(earlier);
      return;
    }
    this.#remember(command.commandId, undefined);
    if (command.action === 'ping') {
      this.#pong(command);
      return;
    }
    const slot = this.#resources.get(command.resource);
    if (!slot) {
      this.#reply(command, { state: 'unknown', ok: false, error: `no resource named ${command.resource} on this VM` });
      return;
    }
    if (this.#expired(command)) {
      this.#reply(command, { state: slot.resource.state, ok: false, error: 'deadline passed before the command could run; not executed' });
      return;
    }
    slot.queue.push(command);
    if (!slot.busy) this.#runNext(slot);
  }

  /** Answers a ping at once: this boot, the latest beat slot, every resource's state. */
  #pong(command: Extract<AgentCommand, { action: 'ping' }>): void {
    if (this.#expired(command)) return;
    const reply: Unsigned<PingReply> = {
      kind: 'reply',
      protocol: AGENT_PROTOCOL_VERSION,
      commandId: command.commandId,
      assemblyId: command.assemblyId,
      instanceId: this.vmId,
      ok: true,
      action: 'ping',
      bootId: this.bootId,
      sequence: this.#sequence,
      resources: toResourceStatuses(this.#resourceList()),
      completedAt: Math.floor(this.#deps.clock.now()),
    };
    this.#send(command.commandId, reply);
  }

  #expired(command: AgentCommand): boolean {
    return this.#deps.clock.now() > command.issuedAt + command.deadlineMs;
  }

  #runNext(slot: ResourceSlot): void {
    const command = slot.queue.shift();
    if (command === undefined || this.#stopped) return;
    if (this.#expired(command)) {
      this.#reply(command, { state: slot.resource.state, ok: false, error: 'deadline passed while queued behind another command; not executed' });
      this.#runNext(slot);
      return;
    }
    const plan = planCommand(command.action, slot.resource.state, this.#deps.conditions.resourceFaults.get(slot.resource.name));
    if (command.action === 'reconfigure') slot.resource.params = { ...command.params };
    if (plan.kind === 'immediate') {
      this.#reply(command, plan.outcome);
      this.#runNext(slot);
      return;
    }
    slot.busy = true;
    slot.timer?.cancel();
    slot.timer = undefined;
    if (plan.during !== 'unchanged') this.#enter(slot, plan.during);
    const timer = this.#deps.clock.schedule(this.#duration(this.#deps.timings[command.action]), () => {
      this.#commandTimers.delete(timer);
      slot.busy = false;
      if (plan.outcome.state !== 'unchanged') this.#settle(slot, plan.outcome.state, plan.outcome.error);
      this.#reply(command, plan.outcome);
      this.#runNext(slot);
    });
    this.#commandTimers.add(timer);
  }

  /** Puts a resource in its state after a start or stop, arming the flap if it runs. */
  #settle(slot: ResourceSlot, state: ResourceState, detail: string | undefined): void {
    this.#enter(slot, state, detail);
    if (state === 'running') this.#armFlap(slot);
  }

  #armFlap(slot: ResourceSlot): void {
    const fault = this.#deps.conditions.resourceFaults.get(slot.resource.name);
    if (fault?.kind !== 'flap') return;
    slot.timer = this.#deps.clock.schedule(fault.failAfterMs, () => {
      slot.timer = undefined;
      this.#crash(slot);
    });
  }

  #crash(slot: ResourceSlot): void {
    slot.timer?.cancel();
    slot.timer = undefined;
    this.#enter(slot, 'failed', CRASH_DETAIL);
  }

  #enter(slot: ResourceSlot, state: ResourceState, detail?: string): void {
    if (enter(slot.resource, state, this.#deps.clock.now(), detail)) this.#encoder.setResources(this.#resourceList());
  }

  #reply(command: ResourceCommand, outcome: Outcome & { state: ResourceState | 'unchanged' }): void {
    const slot = this.#resources.get(command.resource);
    const state = outcome.state === 'unchanged' ? (slot?.resource.state ?? 'unknown') : outcome.state;
    const reply: Unsigned<ResourceReply> = {
      kind: 'reply',
      protocol: AGENT_PROTOCOL_VERSION,
      commandId: command.commandId,
      assemblyId: command.assemblyId,
      instanceId: this.vmId,
      ok: outcome.ok,
      resource: command.resource,
      state,
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
      completedAt: Math.floor(this.#deps.clock.now()),
    };
    this.#send(command.commandId, reply);
  }

  /** Signs a reply, keeps it for a repeated command, and publishes it. */
  #send(commandId: string, reply: Unsigned<ResourceReply> | Unsigned<PingReply>): void {
    const body = signAgentMessage(reply, this.#key);
    this.#remember(commandId, body);
    this.#publishReply(body);
  }

  #publishReply(body: Buffer): void {
    if (this.#stopped || this.silent) return;
    this.#deps.link.publish(this.#deps.config.exchange, this.#replyKey, body);
  }

  #remember(commandId: string, reply: Buffer | undefined): void {
    this.#commands.set(commandId, reply);
    if (this.#commands.size > REMEMBERED_COMMANDS) {
      const oldest = this.#commands.keys().next();
      if (!oldest.done) this.#commands.delete(oldest.value);
    }
  }
}
