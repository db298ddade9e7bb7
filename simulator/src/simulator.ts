/**
 * The simulator's composition root: clock and seed → clouds and identity → HTTP routes for every
 * provider API and the control API, on one port.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { ErrorRequestHandler, Express } from 'express';
import { createLogger } from '@defib/platform';
import type { Logger } from '@defib/platform';
import type { AgentTimings } from './agents/agent.ts';
import type { AgentNetwork } from './agents/agent-network.ts';
import { AgentRuntime } from './agents/agent-runtime.ts';
import { AmqpAgentNetwork } from './agents/amqp-agent-network.ts';
import { RealClock } from './clock.ts';
import type { Clock } from './clock.ts';
import { Cloud } from './cloud/cloud.ts';
import { defaultClouds, resolveCloudConfig } from './cloud/cloud-config.ts';
import type { CloudConfigInput } from './cloud/cloud-config.ts';
import { createControlRouter } from './control/control-routes.ts';
import { createEc2Router } from './ec2/ec2-routes.ts';
import { layOutRegions } from './openstack/endpoints.ts';
import { createGlanceRouter } from './openstack/glance-routes.ts';
import { Identity, defaultUsers } from './openstack/identity.ts';
import type { UserConfig } from './openstack/identity.ts';
import { createKeystoneRouter } from './openstack/keystone-routes.ts';
import { createNovaRouter } from './openstack/nova-routes.ts';
import { SeededRandom } from './random.ts';
import { FaultEngine } from './faults/fault-engine.ts';
import { ScenarioRunner } from './scenarios/scenario-runner.ts';
import type { World } from './scenarios/scenario-runner.ts';
import { withOverride } from './scenarios/scenario-world.ts';
import { AssemblyIndex } from './timeline/assembly-index.ts';
import { Timeline } from './timeline/timeline.ts';

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
  readonly app: Express;
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
  /** Stops listening, drops open connections and cancels every timer. */
  stop(): Promise<void>;
  /** Puts every cloud back as first built (no VMs, rewound random streams). Tokens stay valid. */
  reset(): void;
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
  const agents = new AgentRuntime({
    clouds: clouds.values(),
    clock,
    random: random.fork('agents'),
    speedFactor: () => worldSpeed,
    network: options.agents?.network ?? new AmqpAgentNetwork({ logger, ...(options.agents?.connectionsPerBroker === undefined ? {} : { connectionsPerBroker: options.agents.connectionsPerBroker }) }),
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

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use('/identity', createKeystoneRouter({ identity, regions: () => openStackRegions }));
  for (const region of openStackRegions) {
    app.use(`${region.basePath}/compute`, createNovaRouter({ cloud: region.cloud, identity }));
    app.use(`${region.basePath}/image`, createGlanceRouter({ cloud: region.cloud, identity }));
  }
  app.use('/ec2', createEc2Router({ clouds: () => ec2Clouds }));
  app.use('/_sim', createControlRouter({ clouds: () => [...clouds.values()], reset, faults, timeline, scenarios }));
  app.use((req, res) => {
    res.status(404).type('application/problem+json').json({ type: 'about:blank', title: 'Not Found', status: 404, detail: `Nothing is served at ${req.method} ${req.path}` });
  });
  const handleError: ErrorRequestHandler = (_error: unknown, _req, res, _next) => {
    res.status(500).type('application/problem+json').json({ type: 'about:blank', title: 'Internal Server Error', status: 500 });
  };
  app.use(handleError);

  let server: Server | undefined;
  return {
    app,
    clouds,
    identity,
    clock,
    agents,
    faults,
    timeline,
    scenarios,
    reset,
    start(port, host = '127.0.0.1') {
      if (server) return Promise.reject(new Error('simulator already started'));
      return new Promise((resolve, reject) => {
        const listening = app.listen(port, host, (error?: Error) => {
          if (error) return reject(error);
          const address = listening.address() as AddressInfo;
          const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({ url: `http://${shownHost}:${address.port}` });
        });
        server = listening;
      });
    },
    async stop() {
      scenarios.stop();
      faults.dispose();
      for (const cloud of clouds.values()) cloud.dispose();
      await agents.close();
      const closing = server;
      server = undefined;
      if (!closing) return;
      await new Promise<void>((resolve, reject) => {
        closing.close((error) => (error ? reject(error) : resolve()));
        closing.closeAllConnections();
      });
    },
  };
}
