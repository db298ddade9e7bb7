/**
 * Runs one scenario at a time: restarts the world under its seed, speed and clouds, creates its
 * VMs, and injects its faults when their (speed-scaled) time comes. Everything is on the
 * injected clock, so a scenario replays identically under a ManualClock.
 */
import { AGENT_KEY_BYTES, deriveAgentKey, encodeAgentConfig, encodeAgentKey } from '@defib/contracts';
import type { Clock, ScheduledTask } from '@defib/platform';
import type { Cloud } from '../cloud/cloud.ts';
import type { FaultEngine } from '../faults/fault-engine.ts';
import { UnknownTargetError } from '../faults/fault-target.ts';
import { busNames, SeededRandom } from '@defib/platform';
import type { TimePoint, Timeline } from '../timeline/timeline.ts';
import { ScenarioError, scenarioIssue } from './scenario-loader.ts';
import type { Locate, ScenarioIssue } from './scenario-loader.ts';
import { formatOffset, planScenario } from './scenario-plan.ts';
import type { PlannedFault } from './scenario-plan.ts';
import type { Scenario, ScenarioCloud, ScenarioVm } from './scenario-schema.ts';

/** What a scenario sets about the world it runs in. */
export interface World {
  readonly seed: string | number;
  readonly speedFactor: number;
  /** Overrides of the configured clouds, by name. */
  readonly clouds?: readonly ScenarioCloud[] | undefined;
}

export interface ScenarioRunnerDependencies {
  clock: Clock;
  timeline: Timeline;
  faults: FaultEngine;
  clouds: () => readonly Cloud[];
  speedFactor: () => number;
  /** Puts the world back to empty under this seed, speed and clouds: no VMs, no faults, a fresh timeline. */
  restartWorld: (world: World) => void;
}

/** How a planned fault went. */
export type PlannedFaultState = 'pending' | 'injected' | 'skipped';

/** The scenario as `GET /_sim/scenarios/current` shows it. */
export interface ScenarioStatus {
  readonly name: string;
  readonly description?: string;
  readonly seed: string;
  readonly speedFactor: number;
  readonly state: 'running' | 'finished' | 'stopped';
  readonly startedAt: TimePoint;
  readonly endsAt?: TimePoint;
  readonly vms: readonly { cloud: string; id: string; name: string }[];
  readonly faults: readonly {
    entry: number;
    occurrence: number;
    kind: string;
    at: string;
    atMs: number;
    state: PlannedFaultState;
    faultId?: string;
    reason?: string;
  }[];
}

interface Run {
  readonly scenario: Scenario;
  readonly startedAt: TimePoint;
  state: ScenarioStatus['state'];
  readonly vms: { cloud: string; id: string; name: string }[];
  readonly plan: { planned: PlannedFault; state: PlannedFaultState; faultId?: string; reason?: string }[];
  readonly timers: ScheduledTask[];
  endsAt?: TimePoint;
}

const DEFAULT_BROKER_URL = 'amqp://localhost:5672';
/** A scenario's agents talk over the default installation's agent exchange (`BUS_PREFIX` defib). */
const DEFAULT_AGENT_EXCHANGE = busNames('defib').agentsExchange;

export class ScenarioRunner {
  readonly #deps: ScenarioRunnerDependencies;
  #run: Run | undefined;

  constructor(dependencies: ScenarioRunnerDependencies) {
    this.#deps = dependencies;
  }

  /**
   * Starts a scenario, replacing any running one. Throws a `ScenarioError` (before touching the
   * world) when it names clouds, images or flavors the simulator lacks.
   */
  run(scenario: Scenario, locate?: Locate): ScenarioStatus {
    const issues = this.#check(scenario, locate);
    if (issues.length > 0) throw new ScenarioError(issues);
    this.stop();
    this.#deps.restartWorld({ seed: scenario.seed, speedFactor: scenario.speed, clouds: scenario.clouds });
    const { timeline, clock } = this.#deps;
    timeline.record({ type: 'scenario.started', name: scenario.name, seed: String(scenario.seed), speedFactor: scenario.speed });
    const run: Run = { scenario, startedAt: timeline.now(), state: 'running', vms: [], plan: planScenario(scenario).map((planned) => ({ planned, state: 'pending' })), timers: [] };
    this.#run = run;
    for (const vm of scenario.vms) this.#create(run, vm);
    const speed = this.#deps.speedFactor();
    for (const item of run.plan) {
      run.timers.push(clock.schedule(item.planned.atMs / speed, () => this.#fire(run, item)));
    }
    if (scenario.duration !== undefined) {
      run.endsAt = { simTimeMs: run.startedAt.simTimeMs + scenario.duration, wallClock: new Date(clock.now() + scenario.duration / speed).toISOString() };
      run.timers.push(clock.schedule(scenario.duration / speed, () => this.#finish(run)));
    } else if (run.plan.length === 0) {
      this.#finish(run);
    }
    return status(run);
  }

  current(): ScenarioStatus | undefined {
    return this.#run ? status(this.#run) : undefined;
  }

  /** Cancels what the running scenario has yet to do; its faults stay as they are. */
  stop(): void {
    const run = this.#run;
    if (!run) return;
    for (const timer of run.timers.splice(0)) timer.cancel();
    if (run.state === 'running') run.state = 'stopped';
  }

  /** Stops and forgets the scenario (a reset). */
  clear(): void {
    this.stop();
    this.#run = undefined;
  }

  #fire(run: Run, item: Run['plan'][number]): void {
    try {
      const fault = this.#deps.faults.inject(item.planned.spec, { source: 'scenario' });
      item.state = 'injected';
      item.faultId = fault.id;
    } catch (error) {
      if (!(error instanceof UnknownTargetError)) throw error;
      item.state = 'skipped';
      item.reason = error.message;
      this.#deps.timeline.record({ type: 'fault.skipped', kind: item.planned.spec.kind, source: 'scenario', field: error.field, reason: error.message });
    }
    if (run.scenario.duration === undefined && run.plan.every((planned) => planned.state !== 'pending')) this.#finish(run);
  }

  #finish(run: Run): void {
    if (run.state !== 'running') return;
    if (run.scenario.duration !== undefined) this.#deps.faults.healAll('scenario-ended');
    run.state = 'finished';
    for (const timer of run.timers.splice(0)) timer.cancel();
    this.#deps.timeline.record({ type: 'scenario.finished', name: run.scenario.name });
  }

  #create(run: Run, request: ScenarioVm): void {
    const cloud = this.#deps.clouds().find((candidate) => candidate.name === request.cloud);
    if (!cloud) return;
    const created = cloud.create(
      {
        name: request.name,
        imageId: request.image,
        flavorId: request.flavor,
        zone: request.zone,
        userData: request.agent ? agentUserData(run.scenario.seed, request.agent) : request.userData,
        metadata: request.metadata,
        tags: Object.entries(request.tags ?? {}).map(([key, value]) => ({ key, value })),
        networks: request.networks,
      },
      request.count,
    );
    run.vms.push(...created.map((vm) => ({ cloud: cloud.name, id: vm.id, name: vm.name })));
  }

  /** What the simulator cannot run: clouds it lacks (or would change), images, flavors, zones unknown to the scenario's world. */
  #check(scenario: Scenario, locate: Locate | undefined): ScenarioIssue[] {
    const clouds = this.#deps.clouds();
    const issues: ScenarioIssue[] = [];
    const overrides = new Map<string, ScenarioCloud>();
    (scenario.clouds ?? []).forEach((override, index) => {
      const cloud = clouds.find((candidate) => candidate.name === override.name);
      if (!cloud) issues.push(scenarioIssue(['clouds', index, 'name'], `is not a cloud of this simulator (${clouds.map((candidate) => candidate.name).join(', ')}); a new cloud needs a restart with --scenario`, locate));
      else if (override.provider !== undefined && override.provider !== cloud.provider) issues.push(scenarioIssue(['clouds', index, 'provider'], `cannot change ${cloud.name} from ${cloud.provider} without a restart`, locate));
      else if (override.region !== undefined && override.region !== cloud.region) issues.push(scenarioIssue(['clouds', index, 'region'], `cannot change ${cloud.name}'s region without a restart`, locate));
      overrides.set(override.name, override);
    });
    scenario.vms.forEach((vm, index) => {
      const cloud = clouds.find((candidate) => candidate.name === vm.cloud);
      if (!cloud) {
        issues.push(scenarioIssue(['vms', index, 'cloud'], `is not a cloud of this simulator`, locate));
        return;
      }
      const override = overrides.get(cloud.name);
      const images = override?.images ?? cloud.config.images;
      const flavors = override?.flavors ?? cloud.config.flavors;
      const zones = override?.zones ?? cloud.config.zones;
      if (!images.some((image) => image.name === vm.image || image.id === vm.image)) issues.push(scenarioIssue(['vms', index, 'image'], `is not an image of ${cloud.name} (${images.map((image) => image.name).join(', ')})`, locate));
      if (!flavors.some((flavor) => flavor.name === vm.flavor || flavor.id === vm.flavor)) issues.push(scenarioIssue(['vms', index, 'flavor'], `is not a flavor of ${cloud.name}`, locate));
      if (vm.zone !== undefined && !zones.some((zone) => zone.name === vm.zone)) issues.push(scenarioIssue(['vms', index, 'zone'], `is not a zone of ${cloud.name}`, locate));
    });
    scenario.faults.forEach((fault, index) => {
      if (fault.target.cloud !== undefined && !clouds.some((cloud) => cloud.name === fault.target.cloud)) issues.push(scenarioIssue(['faults', index, 'target', 'cloud'], 'is not a cloud of this simulator', locate));
    });
    return issues;
  }
}

/**
 * User data for a scenario VM's agent; ids derive from the seed, so reruns give the same ids, and
 * so does the agent secret its key derives from (a scenario stands in for recovery launching VMs;
 * its agents sign, but with a key only the scenario knows).
 */
function agentUserData(seed: string | number, agent: NonNullable<ScenarioVm['agent']>): string {
  const ids = new SeededRandom(seed).fork('scenario-agents');
  const assemblyId = ids.fork(`assembly:${agent.deployable}/${agent.assembly}`).uuid();
  const secret = Buffer.from(ids.fork('agent-secret').hex(2 * AGENT_KEY_BYTES), 'hex');
  return encodeAgentConfig({
    protocol: 1,
    brokerUrl: agent.brokerUrl ?? DEFAULT_BROKER_URL,
    exchange: DEFAULT_AGENT_EXCHANGE,
    deployableId: ids.fork(`deployable:${agent.deployable}`).uuid(),
    assemblyId,
    key: encodeAgentKey(deriveAgentKey(secret, assemblyId)),
    assembly: agent.assembly,
    heartbeatIntervalMs: agent.heartbeatInterval,
    resources: agent.resources.map((resource) => ({
      name: resource.name,
      monitorIntervalMs: resource.monitorInterval,
      ...(resource.monitorTimeout === undefined ? {} : { monitorTimeoutMs: resource.monitorTimeout }),
      ...(resource.params === undefined ? {} : { params: resource.params }),
    })),
  });
}

function status(run: Run): ScenarioStatus {
  const { scenario } = run;
  return {
    name: scenario.name,
    ...(scenario.description === undefined ? {} : { description: scenario.description }),
    seed: String(scenario.seed),
    speedFactor: scenario.speed,
    state: run.state,
    startedAt: run.startedAt,
    ...(run.endsAt ? { endsAt: run.endsAt } : {}),
    vms: [...run.vms],
    faults: run.plan.map(({ planned, state, faultId, reason }) => ({
      entry: planned.entry,
      occurrence: planned.occurrence,
      kind: planned.spec.kind,
      at: formatOffset(planned.atMs),
      atMs: planned.atMs,
      state,
      ...(faultId === undefined ? {} : { faultId }),
      ...(reason === undefined ? {} : { reason }),
    })),
  };
}
