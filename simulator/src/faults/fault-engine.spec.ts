import { encodeAgentConfig } from '@defib/contracts';
import { testAgentKeyText } from '@defib/contracts/testing';
import { describe, expect, it } from 'vitest';
import type { AgentControls, AgentSnapshot, ResourceFault } from '../agents/agent-controls.ts';
import { ManualClock } from '@defib/platform/testing';
import { Cloud } from '../cloud/cloud.ts';
import { resolveCloudConfig } from '../cloud/cloud-config.ts';
import type { CloudConfigInput } from '../cloud/cloud-config.ts';
import { novaState } from '../cloud/nova-state.ts';
import { SeededRandom } from '@defib/platform';
import { AssemblyIndex } from '../timeline/assembly-index.ts';
import { Timeline } from '../timeline/timeline.ts';
import { FaultEngine } from './fault-engine.ts';
import { faultSpecSchema } from './fault-spec.ts';
import type { FaultSpecInput } from './fault-spec.ts';
import { UnknownTargetError } from './fault-target.ts';

const timings = { build: 10_000, reboot: 4_000, hardReboot: 2_000, stop: 3_000, start: 5_000, rebuild: 6_000, delete: 1_000, jitter: 0, deletedRetention: 60_000 };
const ASSEMBLY_ID = '6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5';

interface AgentCall {
  at: number;
  method: keyof AgentControls;
  vmId: string;
  args: unknown[];
}

/**
 * AgentControls that records every call with the clock's time and keeps the state the calls
 * imply (silent, failed resources), as the real runtime would: enough to check behaviour, not
 * only calls. VMs in `agentless` have no agent, as a VM without agent configuration.
 */
class RecordingAgents implements AgentControls {
  readonly calls: AgentCall[] = [];
  readonly silentUntil = new Map<string, number>();
  readonly failed = new Set<string>();
  readonly resourceFaults = new Map<string, ResourceFault>();
  readonly agentless = new Set<string>();
  readonly #clock: ManualClock;

  constructor(clock: ManualClock) {
    this.#clock = clock;
  }

  partition(vmId: string, untilMs?: number): boolean {
    return this.#call('partition', vmId, [untilMs], () => this.silentUntil.set(vmId, untilMs ?? Number.POSITIVE_INFINITY));
  }
  hang(vmId: string): boolean {
    return this.#call('hang', vmId, [], () => this.silentUntil.set(vmId, Number.POSITIVE_INFINITY));
  }
  heal(vmId: string): boolean {
    return this.#call('heal', vmId, [], () => this.silentUntil.delete(vmId));
  }
  crashResource(vmId: string, resource: string): boolean {
    return this.#call('crashResource', vmId, [resource], () => this.failed.add(`${vmId}/${resource}`));
  }
  setResourceFault(vmId: string, resource: string, fault: ResourceFault | undefined): boolean {
    return this.#call('setResourceFault', vmId, [resource, fault], () => (fault ? this.resourceFaults.set(`${vmId}/${resource}`, fault) : this.resourceFaults.delete(`${vmId}/${resource}`)));
  }
  snapshot(): AgentSnapshot | undefined {
    return undefined;
  }

  /** Whether the VM's agent beats at the clock's current time. */
  beating(vmId: string): boolean {
    return (this.silentUntil.get(vmId) ?? 0) <= this.#clock.now();
  }

  #call(method: keyof AgentControls, vmId: string, args: unknown[], effect: () => unknown): boolean {
    this.calls.push({ at: this.#clock.now(), method, vmId, args });
    if (this.agentless.has(vmId)) return false;
    effect();
    return true;
  }
}

function world(options: { seed?: string; speedFactor?: number; clouds?: CloudConfigInput[] } = {}) {
  const clock = new ManualClock(0);
  const speedFactor = options.speedFactor ?? 1;
  const random = new SeededRandom(options.seed ?? 'spec');
  const inputs = options.clouds ?? [
    { name: 'os', provider: 'openstack', timings, zones: [{ name: 'nova', hosts: ['compute-1', 'compute-2'] }] },
    { name: 'aws', provider: 'ec2', timings },
  ];
  const clouds = inputs.map((input) => new Cloud(resolveCloudConfig(input), { clock, random: random.fork(`cloud:${input.name}`), speedFactor }));
  const assemblies = new AssemblyIndex();
  const timeline = new Timeline({ clock, speedFactor: () => speedFactor, assemblies });
  for (const cloud of clouds) timeline.observe(cloud);
  const agents = new RecordingAgents(clock);
  const engine = new FaultEngine({ clock, random: random.fork('faults'), clouds, agents, timeline, assemblies, speedFactor: () => speedFactor });
  const cloud = (name: string): Cloud => {
    const found = clouds.find((candidate) => candidate.name === name);
    if (!found) throw new Error(`no cloud ${name}`);
    return found;
  };
  const launch = (name: string, request: { name?: string; zone?: string; tags?: { key: string; value: string }[]; agent?: boolean } = {}): string => {
    const target = cloud(name);
    const userData = request.agent
      ? encodeAgentConfig({ protocol: 1, brokerUrl: 'amqp://localhost', exchange: 'defib.agents', deployableId: ASSEMBLY_ID, assemblyId: ASSEMBLY_ID, key: testAgentKeyText(ASSEMBLY_ID), assembly: 'db', heartbeatIntervalMs: 1_000, resources: [{ name: 'mysqld', monitorIntervalMs: 1_000 }] })
      : null;
    const [vm] = target.create({ name: request.name ?? 'vm', imageId: target.images[0]?.id ?? '', flavorId: target.flavors[0]?.id ?? '', zone: request.zone, tags: request.tags, userData });
    if (!vm) throw new Error('no VM');
    return vm.id;
  };
  const inject = (input: FaultSpecInput) => engine.inject(faultSpecSchema.parse(input));
  return { clock, clouds, cloud, timeline, agents, engine, launch, inject };
}

describe('fault engine: VM faults', () => {
  it('crashes a running VM to SHUTOFF and records the injection before its effect', () => {
    const { clock, cloud, launch, inject, timeline } = world();
    const id = launch('os');
    clock.advance(timings.build);
    const fault = inject({ kind: 'vm-crash', target: { vm: id } });
    expect(novaState(cloud('os').require(id).state).status).toBe('SHUTOFF');
    expect(fault).toMatchObject({ kind: 'vm-crash', state: 'completed', affected: [{ cloud: 'os', vmId: id, applied: true }] });
    const types = timeline.entries({ vm: id }).map((entry) => entry.type);
    expect(types.slice(-2)).toEqual(['fault.injected', 'vm.transition']);
  });

  it('crashes to ERROR when asked, and leaves VMs that are not running alone', () => {
    const { clock, cloud, launch, inject } = world();
    const running = launch('os', { name: 'a' });
    clock.advance(timings.build);
    const building = launch('os', { name: 'a' });
    const fault = inject({ kind: 'vm-crash', target: { vm: 'a' }, to: 'error' });
    expect(cloud('os').require(running).state.phase).toBe('error');
    expect(cloud('os').require(running).fault?.message).toContain(fault.id);
    expect(cloud('os').require(building).state.phase).toBe('building');
    expect(fault.affected.map((vm) => vm.applied)).toEqual([true, false]);
  });

  it('hangs a VM through its agent while the cloud still says running, until healed', () => {
    const { clock, cloud, agents, launch, inject, engine } = world();
    const id = launch('os', { agent: true });
    clock.advance(timings.build + 5_000);
    const fault = inject({ kind: 'vm-hang', target: { assembly: 'db' } });
    expect(cloud('os').require(id).state.phase).toBe('running');
    expect(agents.beating(id)).toBe(false);
    clock.advance(7_000);
    engine.heal(fault.id);
    expect(agents.beating(id)).toBe(true);
    expect(agents.calls.map(({ method, at }) => [method, at])).toEqual([
      ['hang', 15_000],
      ['heal', 22_000],
    ]);
  });

  it('partitions an agent for a speed-scaled duration, then heals it', () => {
    const { clock, agents, launch, inject, engine } = world({ speedFactor: 10 });
    const id = launch('os', { agent: true });
    clock.advance(timings.build / 10);
    const fault = inject({ kind: 'agent-partition', target: { vm: id }, duration: '30s' });
    expect(agents.calls[0]).toEqual({ at: 1_000, method: 'partition', vmId: id, args: [4_000] });
    expect(fault.endsAt?.simTimeMs).toBe(fault.injectedAt.simTimeMs + 30_000);
    clock.advance(2_999);
    expect(agents.beating(id)).toBe(false);
    expect(engine.get(fault.id)?.state).toBe('active');
    clock.advance(1);
    expect(agents.beating(id)).toBe(true);
    expect(engine.get(fault.id)).toMatchObject({ state: 'healed', healCause: 'expired' });
    expect(agents.calls.at(-1)).toMatchObject({ at: 4_000, method: 'heal' });
  });

  it('reports a VM without an agent as not affected by agent faults', () => {
    const { clock, agents, launch, inject } = world();
    const id = launch('os');
    clock.advance(timings.build);
    agents.agentless.add(id);
    expect(inject({ kind: 'vm-hang', target: { vm: id } }).affected).toEqual([{ cloud: 'os', vmId: id, applied: false, effect: 'no agent' }]);
  });

  it('makes a resource flap with a speed-scaled period and stops when healed', () => {
    const { clock, agents, launch, inject, engine } = world({ speedFactor: 2 });
    const id = launch('os', { agent: true });
    clock.advance(timings.build / 2);
    const fault = inject({ kind: 'resource-flap', target: { vm: id }, resource: 'mysqld', failAfter: '10s' });
    expect(agents.failed.has(`${id}/mysqld`)).toBe(true);
    expect(agents.resourceFaults.get(`${id}/mysqld`)).toEqual({ kind: 'flap', failAfterMs: 5_000 });
    engine.heal(fault.id);
    expect(agents.resourceFaults.has(`${id}/mysqld`)).toBe(false);
  });

  it('crashes a resource for good with no-restart', () => {
    const { clock, agents, launch, inject } = world();
    const id = launch('os', { agent: true });
    clock.advance(timings.build);
    inject({ kind: 'resource-no-restart', target: { vm: id }, resource: 'mysqld' });
    expect(agents.failed.has(`${id}/mysqld`)).toBe(true);
    expect(agents.resourceFaults.get(`${id}/mysqld`)).toEqual({ kind: 'no-restart' });
  });

  it('gives a VM a new fixed address and moves its public address', () => {
    const { clock, cloud, launch, inject, timeline } = world();
    const id = launch('aws');
    clock.advance(timings.build);
    const before = cloud('aws').require(id).addresses.map((address) => address.address);
    const fault = inject({ kind: 'ip-change', target: { vm: id }, fixed: true, floating: true });
    const after = cloud('aws').require(id).addresses.map((address) => address.address);
    expect(after).toHaveLength(2);
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).not.toBe(before[1]);
    expect(fault.affected[0]?.effect).toBe(`${before.join(', ')} → ${after.join(', ')}`);
    expect(timeline.entries({ types: ['vm.addresses-changed'] }).at(-1)).toMatchObject({ vmId: id, previous: before, current: after });
  });

  it('unmaps a client-allocated floating address on a floating ip-change', () => {
    const { clock, cloud, launch, inject } = world();
    const os = cloud('os');
    const id = launch('os');
    clock.advance(timings.build);
    const floating = os.allocateFloating();
    os.associateFloating(floating.id, id);
    inject({ kind: 'ip-change', target: { vm: id }, fixed: false, floating: true });
    expect(os.require(id).addresses.map((address) => address.kind)).toEqual(['fixed']);
    expect(os.findFloating(floating.id)?.vmId).toBeNull();
  });
});

describe('fault engine: hosts and boots', () => {
  it('fails every VM on a host, places new VMs elsewhere while it is down, and lets them boot there again once healed', () => {
    const { clock, cloud, launch, inject, engine } = world();
    const os = cloud('os');
    const ids = [launch('os'), launch('os'), launch('os'), launch('os')];
    clock.advance(timings.build);
    const onHost = os.vmsOnHost('compute-1').map((vm) => vm.id);
    expect(onHost.length).toBeGreaterThan(0);
    const fault = inject({ kind: 'host-failure', target: { host: 'compute-1' } });
    for (const id of ids) expect(os.require(id).state.phase).toBe(onHost.includes(id) ? 'error' : 'running');
    expect(fault.hosts).toEqual([{ cloud: 'os', host: 'compute-1' }]);
    const replacement = launch('os');
    expect(os.require(replacement).host).toBe('compute-2');
    engine.heal(fault.id);
    expect(os.isHostDown('compute-1')).toBe(false);
  });

  it('sends a VM rebooted on a down host back to ERROR', () => {
    const { clock, cloud, launch, inject } = world();
    const os = cloud('os');
    launch('os');
    launch('os');
    clock.advance(timings.build);
    const [victim] = os.vmsOnHost('compute-1');
    inject({ kind: 'host-failure', target: { host: 'compute-1' } });
    os.request(victim?.id ?? '', 'hard-reboot');
    clock.advance(timings.hardReboot);
    expect(os.require(victim?.id ?? '')).toMatchObject({ state: { phase: 'error', task: null }, fault: { message: 'host compute-1 is down' } });
  });

  it('hangs every VM of a zone when the failure mode is hang', () => {
    const { clock, agents, launch, inject } = world();
    const a = launch('aws', { zone: 'us-east-1a', agent: true });
    const b = launch('aws', { zone: 'us-east-1b', agent: true });
    clock.advance(timings.build);
    inject({ kind: 'host-failure', target: { cloud: 'aws', zone: 'us-east-1a' }, mode: 'hang' });
    expect(agents.beating(a)).toBe(false);
    expect(agents.beating(b)).toBe(true);
  });

  it('fails the boots of VMs created later that match the target, and only as many as picked', () => {
    const { clock, cloud, launch, inject, timeline } = world();
    const fault = inject({ kind: 'boot-failure', target: { tag: 'role=db', pick: 1 } });
    const first = launch('os', { tags: [{ key: 'role', value: 'db' }] });
    const web = launch('os', { tags: [{ key: 'role', value: 'web' }] });
    const second = launch('os', { tags: [{ key: 'role', value: 'db' }] });
    clock.advance(timings.build - 1);
    expect(cloud('os').require(first).state.phase).toBe('building');
    clock.advance(1);
    expect(novaState(cloud('os').require(first).state).status).toBe('ERROR');
    expect(cloud('os').require(web).state.phase).toBe('running');
    expect(cloud('os').require(second).state.phase).toBe('running');
    expect(timeline.entries({ fault: fault.id }).map((entry) => entry.type)).toEqual(['fault.injected', 'fault.applied']);
  });

  it('terminates failed EC2 launches when asked to, as EC2 shows them', () => {
    const { clock, cloud, launch, inject } = world();
    inject({ kind: 'boot-failure', target: { cloud: 'aws' }, to: 'deleted' });
    const id = launch('aws');
    clock.advance(timings.build);
    expect(cloud('aws').require(id)).toMatchObject({ state: { phase: 'deleted' }, fault: { code: 500 } });
  });

  it('slows the boots of matching VMs by the delay, scaled by the speed factor', () => {
    const { clock, cloud, launch, inject, engine } = world({ speedFactor: 10 });
    const fault = inject({ kind: 'slow-boot', target: { cloud: 'os' }, delay: '60s' });
    const slow = launch('os');
    const other = launch('aws');
    clock.advance(timings.build / 10);
    expect(cloud('aws').require(other).state.phase).toBe('running');
    expect(cloud('os').require(slow).state.phase).toBe('building');
    clock.advance(6_000);
    expect(cloud('os').require(slow).state.phase).toBe('running');
    engine.heal(fault.id);
    const quick = launch('os');
    clock.advance(timings.build / 10);
    expect(cloud('os').require(quick).state.phase).toBe('running');
  });
});

describe('fault engine: API faults', () => {
  it('throttles beyond its own token bucket, per operation', async () => {
    const { clock, cloud, inject } = world();
    inject({ kind: 'api-throttle', target: { cloud: 'aws' }, operations: ['Describe*'], perSecond: 1, burst: 2 });
    const aws = cloud('aws');
    expect(await aws.admit('DescribeInstances')).toBeUndefined();
    expect(await aws.admit('DescribeInstances')).toBeUndefined();
    expect(await aws.admit('DescribeInstances')).toEqual({ kind: 'throttled', retryAfterMs: 1_000 });
    expect(await aws.admit('RunInstances')).toBeUndefined();
    clock.advance(1_000);
    expect(await aws.admit('DescribeInstances')).toBeUndefined();
  });

  it('fails a seeded fraction of calls, the same calls for the same seed', async () => {
    const outcomes = async (seed: string): Promise<string> => {
      const { cloud, inject } = world({ seed });
      inject({ kind: 'api-error', target: { cloud: 'os' }, rate: 0.5 });
      let pattern = '';
      for (let i = 0; i < 40; i++) pattern += (await cloud('os').admit('servers.list')) ? 'x' : '.';
      return pattern;
    };
    const first = await outcomes('a');
    expect(await outcomes('a')).toBe(first);
    expect(await outcomes('b')).not.toBe(first);
    expect(first.split('x').length - 1).toBeGreaterThan(5);
    expect(first.split('.').length - 1).toBeGreaterThan(5);
  });

  it('holds calls for the added latency on the clock', async () => {
    const { clock, cloud, inject } = world({ speedFactor: 2 });
    inject({ kind: 'api-latency', target: { cloud: 'os' }, latency: '4s' });
    let settled = false;
    const call = Promise.resolve(cloud('os').admit('servers.list')).then((rejection) => {
      settled = true;
      return rejection;
    });
    await Promise.resolve();
    clock.advance(1_999);
    await Promise.resolve();
    expect(settled).toBe(false);
    clock.advance(1);
    expect(await call).toBeUndefined();
  });

  it('answers every call with unavailable during an outage window, then recovers', async () => {
    const { clock, cloud, inject } = world();
    inject({ kind: 'api-outage', target: { cloud: 'os' }, duration: '1m' });
    expect(await cloud('os').admit('servers.create')).toMatchObject({ kind: 'unavailable' });
    clock.advance(60_000);
    expect(await cloud('os').admit('servers.create')).toBeUndefined();
  });
});

describe('fault engine: targets and identity', () => {
  it('refuses targets that name nothing, naming the field', () => {
    const { inject } = world();
    const refused = (input: FaultSpecInput): UnknownTargetError => {
      try {
        inject(input);
      } catch (error) {
        if (error instanceof UnknownTargetError) return error;
        throw error;
      }
      throw new Error('not refused');
    };
    expect(refused({ kind: 'vm-crash', target: { vm: 'nope' } }).field).toBe('target.vm');
    expect(refused({ kind: 'vm-hang', target: { assembly: 'nope' } }).field).toBe('target.assembly');
    expect(refused({ kind: 'host-failure', target: { host: 'nope' } }).field).toBe('target.host');
    expect(refused({ kind: 'api-outage', target: { cloud: 'nope' } }).field).toBe('target.cloud');
    expect(refused({ kind: 'slow-boot', target: { cloud: 'os', zone: 'nope' }, delay: '1s' }).field).toBe('target.zone');
  });

  it('accepts boot faults for VMs that do not exist yet', () => {
    const { inject } = world();
    expect(inject({ kind: 'boot-failure', target: { assembly: 'db' } }).state).toBe('active');
  });

  it('picks the struck VMs with the seeded stream', () => {
    const picked = (seed: string): string[] => {
      const { clock, launch, inject } = world({ seed });
      for (let i = 0; i < 6; i++) launch('os', { name: `vm-${i}` });
      clock.advance(timings.build);
      return inject({ kind: 'vm-crash', target: { cloud: 'os', pick: 2 } }).affected.map((vm) => vm.vmId);
    };
    expect(picked('x')).toHaveLength(2);
    expect(picked('x')).toEqual(picked('x'));
  });

  it('derives fault ids from the seed and rewinds them on reset', () => {
    const ids = (seed: string): string[] => {
      const { inject, engine } = world({ seed });
      const first = inject({ kind: 'slow-boot', target: { cloud: 'os' }, delay: '1s' }).id;
      engine.reset();
      return [first, inject({ kind: 'slow-boot', target: { cloud: 'os' }, delay: '1s' }).id];
    };
    const [first, afterReset] = ids('s');
    expect(first).toMatch(/^flt-[0-9a-f]{12}$/);
    expect(afterReset).toBe(first);
    expect(ids('t')[0]).not.toBe(first);
  });

  it('heals everything on reset and forgets it', () => {
    const { clock, cloud, launch, inject, engine, agents } = world();
    const id = launch('os', { agent: true });
    clock.advance(timings.build);
    inject({ kind: 'vm-hang', target: { vm: id } });
    inject({ kind: 'host-failure', target: { host: 'compute-2' } });
    engine.reset();
    expect(agents.beating(id)).toBe(true);
    expect(cloud('os').isHostDown('compute-2')).toBe(false);
    expect(engine.list()).toEqual([]);
  });
});

describe('fault specs', () => {
  const issues = (input: unknown): string[] => {
    const result = faultSpecSchema.safeParse(input);
    return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  };

  it('rejects a duration on faults that happen once', () => {
    expect(issues({ kind: 'vm-crash', target: { vm: 'a' }, duration: '1m' })).toEqual([': Unrecognized key: "duration"']);
  });

  it('rejects two selectors at once', () => {
    expect(issues({ kind: 'vm-hang', target: { vm: 'a', host: 'b' } })).toEqual(['target.host: cannot be combined with vm: give one selector (cloud may narrow it)']);
  });

  it('keeps API faults on a cloud and host failures on hosts', () => {
    expect(issues({ kind: 'api-outage', target: { host: 'h' } })).toEqual(["target.cloud: is required: api-outage strikes one cloud's API", "target.host: is not allowed: api-outage strikes a cloud's API, not VMs"]);
    expect(issues({ kind: 'host-failure', target: { vm: 'a' } })).toEqual(['target.vm: is not allowed: host-failure targets a host, a zone or a cloud']);
  });

  it('reads tags written as key=value', () => {
    expect(faultSpecSchema.parse({ kind: 'vm-hang', target: { tag: 'role=db' } }).target.tag).toEqual({ key: 'role', value: 'db' });
  });
});
