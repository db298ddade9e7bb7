/**
 * A world for the monitor's integration tests: a real registry and real monitors on one isolated
 * database and bus prefix, the simulator's clouds with their in-guest agents heartbeating over
 * the real RabbitMQ, and a spy on every event. VMs are launched through the cloud drivers with
 * real agent configurations (the way recovery launches them); the start request and the launch
 * are published as the registry and recovery would publish them. Faults go through the
 * simulator's control API.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cloudDriverFactory, type CloudDriver, type CloudInstance } from '@defib/clouds';
import {
  cloudRegistrationSchema,
  createDomainEvent,
  deriveAgentKey,
  encodeAgentConfig,
  encodeAgentKey,
  resourceIdKey,
  validateManifest,
  type CloudRegistrationInput,
  type DomainEvent,
  type EventType,
  type Manifest,
  type ManifestInput,
} from '@defib/contracts';
import { createMonitorService, type MonitorConfig, type MonitorService } from '@defib/monitor';
import { busNames, createLogger } from '@defib/platform';
import { createRegistryService, type RegistryConfig, type RegistryService } from '@defib/registry';
import { createSimulator, type Simulator } from '@defib/simulator';
import {
  apiClient,
  captureLogs,
  cleanUpServiceBus,
  createIsolatedBus,
  createIsolatedDatabase,
  serviceEnvironment,
  startEventSpy,
  startServiceProcess,
  testServiceConfig,
  waitFor,
  type ApiClient,
  type EventSpy,
  type IsolatedBus,
  type IsolatedDatabase,
  type ServiceProcess,
} from '../support/index.ts';

export const ADMIN_TOKEN = 'admin-token-monitor-world-0123';
export const SERVICE_TOKEN = 'service-token-monitor-world-0123';

/** Fast clouds: VMs build in about a second; EC2 status checks turn impaired half a second after a hang. */
export const cloudTimings = { build: 1_500, reboot: 1_500, hardReboot: 1_000, stop: 500, start: 1_000, rebuild: 1_500, delete: 300, jitter: 0, deletedRetention: 60_000, statusChecksAfter: 500 };

/** Monitor settings for tests: quick polls, short leases, a boot grace that fits a fast cloud. */
export function testMonitorSettings(overrides: Partial<MonitorConfig> = {}): Omit<MonitorConfig, keyof ReturnType<typeof testServiceConfig> | 'secretKey' | 'agentSecret' | 'clouds'> {
  return {
    replicaId: undefined,
    bootGraceMs: 8_000,
    cloudPollIntervalMs: 500,
    cloudLookTimeoutMs: 1_000,
    pingTimeoutMs: 1_000,
    lag: { maxLagMs: 1_000, maxQueueDepth: 10_000, settleMs: 1_000 },
    disruption: { threshold: 0.55, minGroupSize: 3, releasePerSecond: 0.01 },
    leaseMs: 3_000,
    shards: 8,
    ...overrides,
  };
}

export interface LaunchedAssembly {
  deployableId: string;
  deployable: string;
  assemblyId: string;
  assembly: string;
  instance: CloudInstance;
}

export interface StartedDeployable {
  deployableId: string;
  name: string;
  manifest: Manifest;
  assemblyIds: Record<string, string>;
  resourceIds: Record<string, string>;
}

export interface MonitorWorld extends Omit<EventSpy, 'close'> {
  simulator: Simulator;
  simulatorUrl: string;
  registry: RegistryService;
  registryUrl: string;
  /** The in-process monitor (absent when the world runs monitors as processes only). */
  monitor: MonitorService | undefined;
  monitorApi: ApiClient;
  /** Every line the in-process monitor logged. */
  monitorLogs: string[];
  agentSecret: Buffer;
  bus: IsolatedBus;
  database: IsolatedDatabase;
  /** What a monitor process needs in its environment. */
  monitorEnvironment(overrides?: Record<string, string>): Record<string, string>;
  startMonitorProcess(overrides?: Record<string, string>): Promise<ServiceProcess>;
  restartMonitor(): Promise<void>;
  /** Publishes the start request the registry would publish. */
  startDeployable(input: ManifestInput): Promise<StartedDeployable>;
  /** Launches one assembly's VM through the driver, with its real agent configuration, and publishes `assembly.launched`. */
  launch(deployable: StartedDeployable, assembly: string): Promise<LaunchedAssembly>;
  /** Publishes an event as another service would. */
  publishAs<T extends EventType>(type: T, init: Omit<Parameters<typeof createDomainEvent<T>>[1], 'correlationId'>): Promise<DomainEvent<T>>;
  /** Injects a fault through the simulator's control API; resolves with its id (to heal it). */
  fault(spec: object): Promise<{ id: string }>;
  /** Bus consumers whose queues `close()` removes: other services started in this world add theirs. */
  consumers: Set<string>;
  driver(cloud: string): CloudDriver;
  /** Events of `type` about one assembly, in arrival order. */
  eventsAbout(type: EventType, assemblyId: string): DomainEvent[];
  waitForEvent(type: EventType, assemblyId: string, timeoutMs: number): Promise<DomainEvent>;
  close(): Promise<void>;
}

export const clouds: Record<string, CloudRegistrationInput> = {
  'sim-openstack': {
    provider: 'openstack',
    authUrl: 'http://127.0.0.1:1/identity/v3',
    region: 'RegionOne',
    credentials: { username: 'admin', password: 'secret', project: 'admin', domain: 'Default' },
    limits: { requestsPerSecond: 200, concurrency: 20 },
  },
  'sim-ec2': {
    provider: 'ec2',
    endpoint: 'http://127.0.0.1:1/ec2/',
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAEXAMPLEKEY12345', secretAccessKey: 'ec2-secret-access-key-value' },
    limits: { requestsPerSecond: 200, concurrency: 20 },
  },
};

/** The agent-channel consumer (its own reply or heartbeat queue) of one replica of `service`. */
export function agentConsumerOf(service: string, replicaId: string): string {
  return `${service}.${replicaId.replace(/[^A-Za-z0-9_.-]/g, '-')}`;
}

type WorldOptions = { inProcessMonitor?: boolean; monitor?: Partial<MonitorConfig> };

/** Builds a world; what a failed build had started is stopped again, so nothing is left on the shared servers. */
export async function startMonitorWorld(options: WorldOptions = {}): Promise<MonitorWorld> {
  const database = await createIsolatedDatabase();
  const bus = createIsolatedBus();
  const started: (() => Promise<unknown>)[] = [];
  try {
    return await buildWorld(options, database, bus, started);
  } catch (error) {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
    await cleanUpServiceBus(bus, ['registry', 'monitor']).catch(() => undefined);
    await database.drop().catch(() => undefined);
    throw error;
  }
}

async function buildWorld(options: WorldOptions, database: IsolatedDatabase, bus: IsolatedBus, started: (() => Promise<unknown>)[]): Promise<MonitorWorld> {
  const logs: string[] = [];
  const quiet = createLogger({ service: 'world', level: 'silent' });
  const spy = await startEventSpy(bus);
  started.push(() => spy.close());
  const simulator = createSimulator({
    seed: `monitor-${randomUUID()}`,
    clouds: [
      { name: 'sim-openstack', provider: 'openstack', timings: cloudTimings },
      { name: 'sim-ec2', provider: 'ec2', timings: cloudTimings },
    ],
    agents: { timings: { agentStart: 200, resourceStart: 200, restart: 300, start: 300, stop: 200, reconfigure: 100, jitter: 0 } },
  });
  const simulatorUrl = (await simulator.start(0, '127.0.0.1')).url;
  started.push(() => simulator.stop());
  const registrations = Object.fromEntries(
    Object.entries(clouds).map(([name, registration]) => [
      name,
      registration.provider === 'openstack' ? { ...registration, authUrl: `${simulatorUrl}/identity/v3` } : { ...registration, endpoint: `${simulatorUrl}/ec2/` },
    ]),
  ) as Record<string, CloudRegistrationInput>;

  const registryConfig: RegistryConfig = {
    ...testServiceConfig(database, bus, { auth: { adminToken: ADMIN_TOKEN, readTokens: [], serviceTokens: [SERVICE_TOKEN], openReads: false }, logLevel: 'silent' }),
    secretKey: randomBytes(32).toString('base64'),
    unactedStartAfterMs: 30_000,
    cloudCheckTimeoutMs: 5_000,
  };
  const registry = createRegistryService(registryConfig, { logger: quiet });
  const registryUrl = (await registry.start()).url;
  started.push(() => registry.stop());
  const registryApi = apiClient(() => registryUrl, ADMIN_TOKEN);
  for (const [name, registration] of Object.entries(registrations)) {
    const response = await registryApi.request('PUT', `/v1/clouds/${name}`, { body: registration });
    if (response.status >= 300) throw new Error(`could not register ${name}: ${response.status} ${await response.text()}`);
  }

  const agentSecret = randomBytes(32);
  const monitorConfig: MonitorConfig = {
    ...testServiceConfig(database, bus, { auth: { adminToken: ADMIN_TOKEN, readTokens: [], openReads: true }, logLevel: 'debug' }),
    ...testMonitorSettings(options.monitor),
    secretKey: randomBytes(32).toString('base64'),
    agentSecret,
    clouds: { registryUrl, serviceToken: SERVICE_TOKEN },
  };
  const monitorLogger = captureLogs('monitor', logs);
  let monitor: MonitorService | undefined;
  let monitorUrl = '';
  if (options.inProcessMonitor !== false) {
    const first = createMonitorService(monitorConfig, { logger: monitorLogger });
    started.push(() => first.stop());
    monitorUrl = (await first.start()).url;
    monitor = first;
  }
  const drivers = cloudDriverFactory({ logger: quiet });
  const driver = (cloud: string) => drivers(cloud, cloudRegistrationSchema.parse(registrations[cloud]));
  const exchange = busNames(bus.prefix).agentsExchange;
  const processes: ServiceProcess[] = [];
  /** The agent consumers of every replica started (each has its own heartbeat queue). */
  const replicaConsumers = new Set<string>();
  const agentConsumer = (replicaId: string) => agentConsumerOf('monitor', replicaId);
  if (monitor !== undefined) replicaConsumers.add(agentConsumer(monitor.replicaId));

  // Every replica of a service shares its sealing key (they share its tables).
  const replicaSecretKey = randomBytes(32).toString('base64');
  const monitorEnvironment = (overrides: Record<string, string> = {}): Record<string, string> => ({
    ...serviceEnvironment(database, bus, ADMIN_TOKEN),
    DEFIB_SECRET_KEY: replicaSecretKey,
    DEFIB_AGENT_SECRET: agentSecret.toString('base64'),
    DEFIB_SERVICE_TOKEN: SERVICE_TOKEN,
    DEFIB_REGISTRY_URL: registryUrl,
    DEFIB_OPEN_READS: 'true',
    MONITOR_BOOT_GRACE: '8s',
    MONITOR_CLOUD_POLL_INTERVAL: '500ms',
    MONITOR_CLOUD_LOOK_TIMEOUT: '1s',
    MONITOR_LEASE: '3s',
    MONITOR_SHARDS: '8',
    ...overrides,
  });

  const world: MonitorWorld = {
    simulator,
    simulatorUrl,
    registry,
    registryUrl,
    get monitor() {
      return monitor;
    },
    monitorApi: apiClient(() => monitorUrl, ADMIN_TOKEN),
    monitorLogs: logs,
    agentSecret,
    bus,
    database,
    events: spy.events,
    publish: spy.publish,
    eventMatching: spy.eventMatching,
    monitorEnvironment,
    async startMonitorProcess(overrides = {}) {
      const environment = monitorEnvironment(overrides);
      // A replica named by the test leaves queues the test can name; others expire a minute after.
      if (environment.MONITOR_REPLICA_ID !== undefined) replicaConsumers.add(agentConsumer(environment.MONITOR_REPLICA_ID));
      const child = await startServiceProcess('monitor', environment);
      processes.push(child);
      return child;
    },
    async restartMonitor() {
      await monitor?.stop();
      monitor = createMonitorService(monitorConfig, { logger: monitorLogger });
      replicaConsumers.add(agentConsumer(monitor.replicaId));
      monitorUrl = (await monitor.start()).url;
    },
    async startDeployable(input) {
      const validation = validateManifest(input);
      if (!validation.ok) throw new Error(`bad manifest: ${JSON.stringify(validation.issues)}`);
      const manifest = validation.manifest;
      const assemblyIds = Object.fromEntries(manifest.assemblies.map((assembly) => [assembly.name, randomUUID()]));
      const resourceIds = Object.fromEntries(manifest.assemblies.flatMap((assembly) => assembly.resources.map((resource) => [resourceIdKey(assembly.name, resource.name), randomUUID()])));
      const started: StartedDeployable = { deployableId: randomUUID(), name: manifest.name, manifest, assemblyIds, resourceIds };
      await world.publishAs('deployable.start-requested', {
        subject: { deployableId: started.deployableId, deployable: manifest.name },
        data: { version: 1, cloud: manifest.cloud, manifest, assemblyIds, resourceIds },
      });
      return started;
    },
    async launch(deployable, assemblyName) {
      const spec = deployable.manifest.assemblies.find((assembly) => assembly.name === assemblyName);
      const assemblyId = deployable.assemblyIds[assemblyName];
      if (spec === undefined || assemblyId === undefined) throw new Error(`no assembly ${assemblyName}`);
      // The driver takes user data as plain text and encodes it for the API: the configuration's JSON, validated.
      const agentConfig = encodeAgentConfig({
        protocol: 1,
        brokerUrl: bus.url,
        exchange,
        deployableId: deployable.deployableId,
        assemblyId,
        key: encodeAgentKey(deriveAgentKey(agentSecret, assemblyId)),
        assembly: assemblyName,
        heartbeatIntervalMs: spec.heartbeat.intervalMs,
        resources: spec.resources.map((resource) => ({ name: resource.name, monitorIntervalMs: resource.monitor.intervalMs, monitorTimeoutMs: resource.monitor.timeoutMs })),
      });
      const userData = Buffer.from(agentConfig, 'base64').toString('utf8');
      const instance = await driver(deployable.manifest.cloud).launch({
        actionId: randomUUID(),
        name: `${deployable.name}-${assemblyName}`,
        image: spec.image,
        flavor: spec.flavor,
        userData,
        metadata: { 'defib-deployable': deployable.deployableId, 'defib-assembly': assemblyId },
      });
      await world.publishAs('assembly.launched', {
        subject: { deployableId: deployable.deployableId, deployable: deployable.name, assemblyId, assembly: assemblyName },
        data: { instanceId: instance.id, cloud: deployable.manifest.cloud, addresses: [...instance.addresses] },
      });
      return { deployableId: deployable.deployableId, deployable: deployable.name, assemblyId, assembly: assemblyName, instance };
    },
    async publishAs(type, init) {
      const event = createDomainEvent(type, { ...init, correlationId: randomUUID() });
      await spy.publish(event as DomainEvent);
      return event;
    },
    async fault(spec) {
      const response = await fetch(`${simulatorUrl}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
      if (response.status !== 201) throw new Error(`fault refused: ${response.status} ${await response.text()}`);
      return (await response.json()) as { id: string };
    },
    consumers: replicaConsumers,
    driver,
    eventsAbout(type, assemblyId) {
      return spy.events.filter((event) => event.type === type && 'assemblyId' in event.subject && event.subject.assemblyId === assemblyId);
    },
    waitForEvent(type, assemblyId, timeoutMs) {
      return waitFor(() => world.eventsAbout(type, assemblyId)[0], { timeoutMs, what: `${type} of assembly ${assemblyId}` });
    },
    async close() {
      for (const child of processes) await child.kill('SIGTERM').catch(() => null);
      await monitor?.stop();
      drivers.close();
      await registry.stop();
      await simulator.stop();
      await spy.close();
      await cleanUpServiceBus(bus, ['registry', 'monitor', ...replicaConsumers]);
      await database.drop();
    },
  };
  return world;
}

/** Waits until the monitor watches every given assembly and sees it beating. */
export async function waitUntilAlive(world: MonitorWorld, assemblies: readonly LaunchedAssembly[], timeoutMs = 15_000): Promise<void> {
  await waitFor(
    async () => {
      for (const assembly of assemblies) {
        const response = await world.monitorApi.request('GET', `/v1/assemblies/${assembly.assemblyId}/liveness`);
        if (response.status !== 200) return undefined;
        const body = (await response.json()) as { state: string; instanceId: string | null };
        if (body.state !== 'alive' || body.instanceId !== assembly.instance.id) return undefined;
      }
      return true;
    },
    { timeoutMs, intervalMs: 100, what: 'every assembly to beat' },
  );
}
