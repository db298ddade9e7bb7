/**
 * The simulator's composition root: clock and seed → clouds and identity → agents, faults,
 * timeline and scenarios → one HTTP app on the platform's bootstrap, serving every provider API
 * (in the provider's own formats) and the control API (a Defib API like any other) on one port.
 */
import { createHttpApp, createLogger, startHttpServer } from '@defib/platform';
import type { AuthSettings, Logger, RunningHttpServer } from '@defib/platform';
import type { Express } from 'express';
import { Registry } from 'prom-client';
import type { AgentTimings } from './agents/agent.ts';
import type { AgentNetwork } from './agents/agent-network.ts';
import { AgentRuntime } from './agents/agent-runtime.ts';
import { AmqpAgentNetwork } from './agents/amqp-agent-network.ts';
import { RealClock } from '@defib/platform';
import type { Clock } from '@defib/platform';
import { Cloud } from './cloud/cloud.ts';
import { defaultClouds, resolveCloudConfig } from './cloud/cloud-config.ts';
import type { CloudConfigInput } from './cloud/cloud-config.ts';
import { controlRoutes } from './control/control-routes.ts';
import { createEc2Router } from './ec2/ec2-routes.ts';
import { layOutRegions } from './openstack/endpoints.ts';
import { createGlanceRouter } from './openstack/glance-routes.ts';
import { Identity, defaultUsers } from './openstack/identity.ts';
import type { UserConfig } from './openstack/identity.ts';
import { createKeystoneRouter } from './openstack/keystone-routes.ts';
import { createNeutronRouter } from './openstack/neutron-routes.ts';
import { createNovaRouter } from './openstack/nova-routes.ts';
import { SeededRandom } from '@defib/platform';
import { FaultEngine } from './faults/fault-engine.ts';
import { ScenarioRunner } from './scenarios/scenario-runner.ts';
import type { World } from './scenarios/scenario-runner.ts';
import { withOverride } from './scenarios/scenario-world.ts';
import { registerSimulatorMetrics } from './simulator-metrics.ts';
import { AssemblyIndex } from './timeline/assembly-index.ts';
import { Timeline } from './timeline/timeline.ts';

export const SIMULATOR_VERSION = '0.1.0';

/** How to build a simulator. Everything is optional. */
export interface SimulatorOptions {
  /** The clouds to run; one OpenStack region (`sim-openstack`) and one EC2 region (`sim-ec2`) by default. */
  clouds?: CloudConfigInput[];
  /** Same seed, same requests ⇒ same ids, addresses and timings. Default `defib`. */
  seed?: string | number;
  /** Divides every lifecycle delay: 60 makes a minute of cloud time pass in a second. Default 1. */
  speedFactor?: number;
  /** The time source; a ManualClock in tests. Default: wall-clock time. */
  clock?: Clock;
  /** Keystone users; default `admin`/`secret` in project `admin`, domain `Default`. */
  users?: UserConfig[];
  /** Keystone token lifetime (not scaled by the speed factor). Default one hour. */
  tokenTtlMs?: number;
  /** The in-guest agents of VMs whose user data holds an agent configuration. */
  agents?: AgentOptions;
  /** Default: silent. */
  logger?: Logger;
  /** How the simulator serves HTTP. */
  http?: SimulatorHttpOptions;
}

/** The HTTP side: who may use the control API, body size, shutdown. */
export interface SimulatorHttpOptions {
  /**
   * Tokens for the control API. Without any (the default) it is open, as befits a local rehearsal
   * tool; with an admin or read token it is guarded like every Defib service: reads need a token
   * (unless `openReads`), changes need the admin token. The provider APIs keep their own auth
   * (Keystone tokens; EC2 keys are not checked).
   */
  auth?: AuthSettings;
  /** Largest control API body (a scenario, a fault); 1 MiB by default. */
  bodyLimitBytes?: number;
  /** How long `stop()` lets requests in flight finish; 10 s by default. */
  shutdownGraceMs?: number;
}

/** How the simulated in-guest agents run. */
export interface AgentOptions {
  /** Broker connections shared by all agents, per broker URL. Default 2. */
  connectionsPerBroker?: number;
  /** Agent start, resource start and command durations in cloud time (scaled by the speed factor). */
  timings?: Partial<AgentTimings>;
  /** Heartbeat timer-wheel tick: the most a beat is delayed by rounding. Default 10 ms. */
  tickMs?: number;
  /** Where agents publish; default RabbitMQ at each configuration's `brokerUrl` (an InMemoryAgentNetwork in unit tests). */
  network?: AgentNetwork;
}

/** A built simulator: the app, its clouds, and its lifecycle. */
export interface Simulator {
  /** The HTTP app (the platform's bootstrap: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`). */
  readonly app: Express;
  /** The simulator's own Prometheus registry, which `/metrics` serves. */
  readonly metrics: Registry;
  /** The clouds by name, in configuration order. */
  readonly clouds: ReadonlyMap<string, Cloud>;
  readonly identity: Identity;
  readonly clock: Clock;
  /** The in-guest agents; faults drive them through its AgentControls side. */
  readonly agents: AgentRuntime;
  readonly faults: FaultEngine;
  /** The ground truth: faults, lifecycle transitions, per-assembly running intervals. */
  readonly timeline: Timeline;
  readonly scenarios: ScenarioRunner;
  /** Listens on `port` (0 for any) and resolves with the base URL. */
  start(port: number, host?: string): Promise<{ url: string }>;
  /** Stops listening (letting requests in flight finish), cancels every timer and closes the agents' connections. */
  stop(): Promise<void>;
  /** Puts every cloud back as first built (no VMs, rewound random streams). Tokens stay valid. */
  reset(): void;
}

/** Whether the control API requires tokens: as soon as any token is configured. */
export function isControlApiGuarded(auth: AuthSettings): boolean {
  return (auth.adminToken !== undefined && auth.adminToken !== '') || auth.readTokens.length > 0;
}

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const clock = options.clock ?? new RealClock();
  const random = new SeededRandom(options.seed ?? 'defib');
  const speedFactor = options.speedFactor ?? 1;
  const clouds = new Map<string, Cloud>();
  for (const input of options.clouds ?? defaultClouds()) {
    if (clouds.has(input.name)) throw new Error(`cloud ${input.name} is configured twice`);
    clouds.set(input.name, new Cloud(resolveCloudConfig(input), { clock, random: random.fork(`cloud:${input.name}`), speedFactor }));
  }
  const ofProvider = (provider: Cloud['provider']): Cloud[] => [...clouds.values()].filter((cloud) => cloud.provider === provider);
  const openStackRegions = layOutRegions(ofProvider('openstack'));
  const ec2Clouds = ofProvider('ec2');
  const regionNames = new Set<string>();
  for (const cloud of [...openStackRegions.map((region) => region.cloud), ...ec2Clouds]) {
    const key = `${cloud.provider}/${cloud.region}`;
    if (regionNames.has(key)) throw new Error(`two ${cloud.provider} clouds share region ${cloud.region}`);
    regionNames.add(key);
  }
  const identity = new Identity({ users: options.users ?? defaultUsers, clock, random: random.fork('identity'), tokenTtlMs: options.tokenTtlMs ?? 3_600_000 });
  const logger = options.logger ?? createLogger({ service: 'simulator', level: 'silent' });
  let worldSpeed = speedFactor;
  const network = options.agents?.network ?? new AmqpAgentNetwork({ logger, ...(options.agents?.connectionsPerBroker === undefined ? {} : { connectionsPerBroker: options.agents.connectionsPerBroker }) });
  const agents = new AgentRuntime({
    clouds: clouds.values(),
    clock,
    random: random.fork('agents'),
    speedFactor: () => worldSpeed,
    network,
    logger,
    ...(options.agents?.timings === undefined ? {} : { timings: options.agents.timings }),
    ...(options.agents?.tickMs === undefined ? {} : { tickMs: options.agents.tickMs }),
  });
  // Faults, timeline and scenarios. A scenario restarts the world under its own seed, speed and
  // cloud overrides; a reset restarts it as configured.
  const cloudInputs = options.clouds ?? defaultClouds();
  const assemblies = new AssemblyIndex();
  const timeline = new Timeline({ clock, speedFactor: () => worldSpeed, assemblies });
  for (const cloud of clouds.values()) timeline.observe(cloud);
  const faults = new FaultEngine({ clock, random: random.fork('faults'), clouds: [...clouds.values()], agents, timeline, assemblies, speedFactor: () => worldSpeed });
  const restartWorld = (world: World): void => {
    faults.reset(new SeededRandom(world.seed).fork('faults'));
    const root = new SeededRandom(world.seed);
    agents.reset(root.fork('agents'));
    worldSpeed = world.speedFactor;
    for (const input of cloudInputs) {
      const override = world.clouds?.find((candidate) => candidate.name === input.name);
      clouds.get(input.name)?.reconfigure({ random: root.fork(`cloud:${input.name}`), speedFactor: worldSpeed, config: resolveCloudConfig(withOverride(input, override)) });
    }
    timeline.reset();
  };
  const scenarios = new ScenarioRunner({ clock, timeline, faults, clouds: () => [...clouds.values()], speedFactor: () => worldSpeed, restartWorld });
  const reset = (): void => {
    scenarios.clear();
    restartWorld({ seed: options.seed ?? 'defib', speedFactor });
  };

  const metrics = new Registry();
  metrics.setDefaultLabels({ service: 'simulator' });
  const detachMetrics = registerSimulatorMetrics(metrics, { clouds: [...clouds.values()], agents, network, faults });
  const auth = options.http?.auth ?? { readTokens: [], openReads: false };
  const guarded = isControlApiGuarded(auth);
  const mounts = [
    { path: '/identity', handler: createKeystoneRouter({ identity, regions: () => openStackRegions }) },
    ...openStackRegions.flatMap((region) => [
      { path: `${region.basePath}/compute`, handler: createNovaRouter({ cloud: region.cloud, identity }) },
      { path: `${region.basePath}/image`, handler: createGlanceRouter({ cloud: region.cloud, identity }) },
      { path: `${region.basePath}/networking`, handler: createNeutronRouter({ cloud: region.cloud, identity }) },
    ]),
    { path: '/ec2', handler: createEc2Router({ clouds: () => ec2Clouds, guests: (vmId) => agents.snapshot(vmId) }) },
  ];
  const app = createHttpApp({
    service: 'simulator',
    version: SIMULATOR_VERSION,
    logger,
    auth,
    bodyLimitBytes: options.http?.bodyLimitBytes ?? 1_048_576,
    metrics,
    mounts,
    routes: controlRoutes({
      clouds: () => [...clouds.values()],
      reset,
      agents,
      faults,
      timeline,
      scenarios,
      scopes: guarded ? { read: 'read', write: 'write' } : { read: 'public', write: 'public' },
    }),
    readiness: [
      {
        name: 'agent-broker',
        // Ready while no agent runs; otherwise every broker the agents publish to must be reachable.
        check: () => {
          const unreachable = agents.unreachableBrokers().length;
          if (unreachable === 0) return Promise.resolve();
          return Promise.reject(Object.assign(new Error(`${unreachable} agent broker(s) unreachable`), { code: 'BROKER_UNREACHABLE' }));
        },
      },
    ],
    openapi: {
      title: 'Defib cloud simulator',
      description:
        'The control API of the simulator (`/_sim/`). The provider APIs it also serves (Keystone at `/identity`, Nova at `/compute`, Glance at `/image`, EC2 at `/ec2/`) speak their providers\' formats and are not described here.',
    },
  });

  let server: RunningHttpServer | undefined;
  let stopping: Promise<void> | undefined;
  return {
    app,
    metrics,
    clouds,
    identity,
    clock,
    agents,
    faults,
    timeline,
    scenarios,
    reset,
    async start(port, host = '127.0.0.1') {
      if (server || stopping) throw new Error('simulator already started');
      server = await startHttpServer(app, { port, host, logger, shutdownGraceMs: options.http?.shutdownGraceMs ?? 10_000 });
      return { url: server.url };
    },
    stop() {
      stopping ??= (async () => {
        // Stop accepting first; then wake what requests in flight wait for (simulated latency) so they can finish.
        const closing = server?.close();
        scenarios.stop();
        faults.dispose();
        for (const cloud of clouds.values()) cloud.dispose();
        detachMetrics();
        await agents.close();
        await closing;
      })();
      return stopping;
    },
  };
}
