/**
 * A world for recovery's end-to-end tests: the monitor's world (a real registry and monitor on one
 * isolated database and bus prefix, the simulator's clouds with their in-guest agents beating over
 * the real RabbitMQ, a spy on every event) with one or more recovery replicas in it, in-process or
 * as processes a test may kill with SIGKILL. Deployables are applied and started through the
 * registry's API and launched by recovery — nothing is published or launched by hand. The
 * simulator is the judge: its VMs, its agents and its timeline (`overlaps`: two live instances of
 * one assembly) are the ground truth the tests check recovery's events and incidents against.
 */
import { randomBytes } from 'node:crypto';
import { decodeAgentConfig, type AgentConfig, type DeployableState, type DomainEvent, type EventType, type ManifestInput } from '@defib/contracts';
import { createRecoveryService, type RecoveryConfig, type RecoveryService } from '@defib/recovery';
import type { AgentSnapshot, AssemblyHistory, Overlap, Simulator, Vm } from '@defib/simulator';
import { apiClient, captureLogs, cleanUpServiceBus, serviceEnvironment, startServiceProcess, testServiceConfig, waitFor, type ApiClient, type ServiceProcess } from '../support/index.ts';
import { ADMIN_TOKEN, agentConsumerOf, SERVICE_TOKEN, startMonitorWorld, type MonitorWorld } from '../monitor/monitor-world.ts';

export { ADMIN_TOKEN } from '../monitor/monitor-world.ts';

/** Recovery settings for tests: quick verification, short leases and fences, fast retries, a boot timeout that fits a fast cloud. */
export function testRecoverySettings(overrides: Partial<RecoveryConfig> = {}): Omit<RecoveryConfig, keyof ReturnType<typeof testServiceConfig> | 'secretKey' | 'agentSecret' | 'clouds' | 'agentBrokerUrl'> {
  return {
    replicaId: undefined,
    leaseMs: 3_000,
    bootTimeoutMs: 8_000,
    commandTimeoutMs: 2_000,
    verifyIntervalMs: 100,
    fenceTimeoutMs: 5_000,
    cloudRetryBudgetMs: 5_000,
    cloudActions: { default: 20, byCloud: {} },
    maxDeployables: 1_000,
    retry: { baseMs: 200, maxMs: 2_000 },
    ...overrides,
  };
}

/** The same settings as a recovery process reads them from its environment. */
const recoveryVariables: Record<string, string> = {
  RECOVERY_LEASE: '3s',
  RECOVERY_BOOT_TIMEOUT: '8s',
  RECOVERY_COMMAND_TIMEOUT: '2s',
  RECOVERY_VERIFY_INTERVAL: '100ms',
  RECOVERY_FENCE_TIMEOUT: '5s',
  RECOVERY_CLOUD_RETRY_BUDGET: '5s',
  RECOVERY_RETRY_BASE: '200ms',
  RECOVERY_RETRY_MAX: '2s',
};

/** A deployable as the registry answered its apply: its ids by name. */
export interface AppliedDeployable {
  id: string;
  name: string;
  version: number;
  /** Registry id of every assembly, by name. */
  assemblyIds: Record<string, string>;
  /** Registry id of every resource, by `<assembly>/<resource>`. */
  resourceIds: Record<string, string>;
}

/** One step of an incident's timeline, as `GET /v1/incidents/{id}` shows it. */
export interface IncidentStep {
  kind: string;
  attempt: number;
  action: string;
  state: 'intended' | 'verifying' | 'succeeded' | 'failed' | 'skipped';
  reason: string | null;
  error: string | null;
  intendedAt: string;
  actedAt: string | null;
  finishedAt: string | null;
  detail: Record<string, unknown>;
}

/** An incident as recovery's API shows it (`steps` only on `GET /v1/incidents/{id}`). */
export interface Incident {
  id: string;
  deployableId: string;
  assemblyId: string | null;
  resourceId: string | null;
  level: 'resource' | 'assembly' | 'deployable';
  status: 'open' | 'errored' | 'closed';
  outcome: 'recovered' | 'gave-up' | 'cancelled' | 'errored' | null;
  trigger: string;
  observations: number;
  lastError: string | null;
  openedAt: string;
  closedAt: string | null;
  steps?: IncidentStep[];
}

export interface RecoveryWorld extends Pick<MonitorWorld, 'simulator' | 'events' | 'fault' | 'bus' | 'database'> {
  /** The monitor's world underneath: its monitor, registry and environment. */
  monitorWorld: MonitorWorld;
  /** The registry's API, as an admin. */
  registry: ApiClient;
  /** The in-process recovery replicas, in start order. */
  recoveries: RecoveryService[];
  /** The API of the first recovery replica (in-process, else the first process still alive). */
  recoveryApi: ApiClient;
  /** Every line the in-process replicas logged. */
  recoveryLogs: string[];
  /** Starts one more in-process replica. */
  startRecovery(overrides?: Partial<RecoveryConfig>): Promise<RecoveryService>;
  /** Stops an in-process replica (its work goes to the others) and forgets it. */
  stopRecovery(service: RecoveryService): Promise<void>;
  /** Starts a recovery replica as a process (`services/recovery/src/main.ts`), for SIGKILL. */
  startRecoveryProcess(overrides?: Record<string, string>): Promise<ServiceProcess>;
  /** `PUT /v1/deployables/{name}`: applies a manifest; its ids by name. */
  apply(manifest: ManifestInput): Promise<AppliedDeployable>;
  /** `POST /v1/deployables/{name}/start`. */
  start(name: string): Promise<void>;
  /** `POST /v1/deployables/{name}/stop`. */
  stop(name: string): Promise<void>;
  /** Applies, starts and waits until recovery says the deployable runs and the monitor saw every VM beat. */
  run(manifest: ManifestInput, timeoutMs?: number): Promise<AppliedDeployable>;
  /** Waits until recovery announces the deployable in `state` (its latest `deployable.state-changed`). */
  waitForState(name: string, state: DeployableState, timeoutMs?: number): Promise<DomainEvent<'deployable.state-changed'>>;
  /** Ends a lasting fault. */
  heal(faultId: string): Promise<void>;
  /** The simulator's ground truth per assembly: running intervals of each instance, and overlaps. */
  timeline(assemblyId?: string): AssemblyHistory[];
  /** Every overlap of two live instances of one assembly since the world began: must stay empty. */
  overlaps(): (Overlap & { assemblyId: string })[];
  /** The assembly's VMs the cloud still has (not deleted), in creation order. */
  instancesOf(assemblyId: string): Readonly<Vm>[];
  /** The agent configuration a VM was launched with (its user data). */
  agentConfig(vm: Readonly<Vm>): AgentConfig;
  /** The running agent of the assembly's current VM, if one runs. */
  agentOf(assemblyId: string): AgentSnapshot | undefined;
  /** Events of `type` (and matching `predicate`), in arrival order. */
  eventsOf<T extends EventType>(type: T, predicate?: (event: DomainEvent<T>) => boolean): DomainEvent<T>[];
  waitForEvent<T extends EventType>(type: T, predicate?: (event: DomainEvent<T>) => boolean, timeoutMs?: number): Promise<DomainEvent<T>>;
  /** `GET /v1/incidents` with the given filters (`deployable`, `state`). */
  incidents(query?: Record<string, string>): Promise<Incident[]>;
  /** `GET /v1/incidents/{id}`, with its steps in order. */
  incident(id: string): Promise<Incident & { steps: IncidentStep[] }>;
  /** Waits until an incident about `about` (an assembly or resource id) is closed; resolves with it and its steps. */
  waitForClosedIncident(about: string, timeoutMs?: number): Promise<Incident & { steps: IncidentStep[] }>;
  close(): Promise<void>;
}

export interface RecoveryWorldOptions {
  /** In-process recovery replicas to start (default 1; 0 when the test runs processes). */
  recoveries?: number;
  recovery?: Partial<RecoveryConfig>;
}

/** A deployable's assembly ids and resource ids from the registry's answer. */
function idsOf(body: { id: string; name: string; version: number; assemblies: { id: string; name: string; resources: { id: string; name: string }[] }[] }): AppliedDeployable {
  return {
    id: body.id,
    name: body.name,
    version: body.version,
    assemblyIds: Object.fromEntries(body.assemblies.map((assembly) => [assembly.name, assembly.id])),
    resourceIds: Object.fromEntries(body.assemblies.flatMap((assembly) => assembly.resources.map((resource) => [`${assembly.name}/${resource.name}`, resource.id]))),
  };
}

function assemblyIdOf(vm: Readonly<Vm>): string | undefined {
  if (vm.userData === null) return undefined;
  try {
    return decodeAgentConfig(vm.userData).assemblyId;
  } catch {
    return undefined;
  }
}

function liveVms(simulator: Simulator): Readonly<Vm>[] {
  return [...simulator.clouds.values()].flatMap((cloud) => cloud.list()).filter((vm) => vm.state.phase !== 'deleted');
}

/** Builds the world; a build that fails half-way stops what it started. */
export async function startRecoveryWorld(options: RecoveryWorldOptions = {}): Promise<RecoveryWorld> {
  const base = await startMonitorWorld();
  const recoveries: RecoveryService[] = [];
  const processes: ServiceProcess[] = [];
  /** The in-process replicas' URLs. */
  const urls = new Map<RecoveryService, string>();
  const logs: string[] = [];
  // Every replica of recovery shares its sealing key (they share its tables).
  const secretKey = randomBytes(32).toString('base64');
  const recoveryConfig = (overrides: Partial<RecoveryConfig>): RecoveryConfig => ({
    ...testServiceConfig(base.database, base.bus, { auth: { adminToken: ADMIN_TOKEN, readTokens: [], openReads: true }, logLevel: 'debug' }),
    ...testRecoverySettings(overrides),
    secretKey,
    agentSecret: base.agentSecret,
    clouds: { registryUrl: base.registryUrl, serviceToken: SERVICE_TOKEN },
    agentBrokerUrl: base.bus.url,
  });
  const firstUrl = (): string => {
    const first = recoveries[0];
    const url = (first === undefined ? undefined : urls.get(first)) ?? processes.find(({ child }) => child.exitCode === null && child.signalCode === null)?.url;
    if (url === undefined) throw new Error('no recovery replica runs');
    return url;
  };
  const registry = apiClient(() => base.registryUrl, ADMIN_TOKEN);
  const recoveryApi = apiClient(firstUrl, ADMIN_TOKEN);
  const eventsOf = <T extends EventType>(type: T, predicate: (event: DomainEvent<T>) => boolean = () => true): DomainEvent<T>[] =>
    (base.events.filter((event) => event.type === type) as unknown as DomainEvent<T>[]).filter((event) => predicate(event));

  const world: RecoveryWorld = {
    monitorWorld: base,
    simulator: base.simulator,
    events: base.events,
    fault: (spec) => base.fault(spec),
    bus: base.bus,
    database: base.database,
    registry,
    recoveries,
    recoveryApi,
    recoveryLogs: logs,
    async startRecovery(overrides = {}) {
      const service = createRecoveryService(recoveryConfig(overrides), { logger: captureLogs('recovery', logs) });
      base.consumers.add(agentConsumerOf('recovery', service.replicaId));
      recoveries.push(service);
      urls.set(service, (await service.start()).url);
      return service;
    },
    async stopRecovery(service) {
      recoveries.splice(recoveries.indexOf(service), 1);
      await service.stop();
    },
    async startRecoveryProcess(overrides = {}) {
      const environment: Record<string, string> = {
        ...serviceEnvironment(base.database, base.bus, ADMIN_TOKEN),
        DEFIB_SECRET_KEY: secretKey,
        DEFIB_AGENT_SECRET: Buffer.from(base.agentSecret).toString('base64'),
        DEFIB_SERVICE_TOKEN: SERVICE_TOKEN,
        DEFIB_REGISTRY_URL: base.registryUrl,
        DEFIB_OPEN_READS: 'true',
        ...recoveryVariables,
        ...overrides,
      };
      // A replica named by the test leaves a reply queue the test can name; others expire a minute after.
      if (environment.RECOVERY_REPLICA_ID !== undefined) base.consumers.add(agentConsumerOf('recovery', environment.RECOVERY_REPLICA_ID));
      const child = await startServiceProcess('recovery', environment);
      processes.push(child);
      return child;
    },
    async apply(manifest) {
      const response = await registry.request('PUT', `/v1/deployables/${manifest.name}`, { body: manifest });
      if (response.status !== 200 && response.status !== 201) throw new Error(`apply ${manifest.name}: ${response.status} ${await response.text()}`);
      return idsOf((await response.json()) as Parameters<typeof idsOf>[0]);
    },
    async start(name) {
      const response = await registry.request('POST', `/v1/deployables/${name}/start`);
      if (response.status >= 300) throw new Error(`start ${name}: ${response.status} ${await response.text()}`);
    },
    async stop(name) {
      const response = await registry.request('POST', `/v1/deployables/${name}/stop`);
      if (response.status >= 300) throw new Error(`stop ${name}: ${response.status} ${await response.text()}`);
    },
    async run(manifest, timeoutMs = 30_000) {
      const applied = await world.apply(manifest);
      await world.start(applied.name);
      await world.waitForState(applied.name, 'running', timeoutMs);
      const assemblyIds = new Set(Object.values(applied.assemblyIds));
      const beating = () => new Set(eventsOf('assembly.running', (event) => assemblyIds.has(event.subject.assemblyId)).map((event) => event.subject.assemblyId));
      await waitFor(() => (beating().size === assemblyIds.size ? true : undefined), {
        timeoutMs,
        intervalMs: 50,
        what: `every assembly of ${applied.name} to beat`,
      });
      return applied;
    },
    waitForState(name, state, timeoutMs = 20_000) {
      return waitFor(
        () => {
          const latest = eventsOf('deployable.state-changed', (event) => event.subject.deployable === name).at(-1);
          return latest?.data.to === state ? latest : undefined;
        },
        { timeoutMs, intervalMs: 50, what: `deployable ${name} to be ${state}` },
      );
    },
    async heal(faultId) {
      const response = await fetch(`${base.simulatorUrl}/_sim/faults/${encodeURIComponent(faultId)}`, { method: 'DELETE' });
      if (response.status !== 200) throw new Error(`heal refused: ${response.status} ${await response.text()}`);
    },
    timeline(assemblyId) {
      return base.simulator.timeline.assemblies(assemblyId === undefined ? {} : { assembly: assemblyId });
    },
    overlaps() {
      return world.timeline().flatMap((history) => history.overlaps.map((overlap) => ({ ...overlap, assemblyId: history.assemblyId })));
    },
    instancesOf(assemblyId) {
      return liveVms(base.simulator)
        .filter((vm) => assemblyIdOf(vm) === assemblyId)
        .sort((a, b) => a.createdAt - b.createdAt);
    },
    agentConfig(vm) {
      if (vm.userData === null) throw new Error(`VM ${vm.id} has no user data`);
      return decodeAgentConfig(vm.userData);
    },
    agentOf(assemblyId) {
      return base.simulator.agents.snapshots({ assembly: assemblyId })[0];
    },
    eventsOf,
    waitForEvent(type, predicate, timeoutMs = 20_000) {
      return waitFor(() => eventsOf(type, predicate)[0], { timeoutMs, intervalMs: 50, what: `a ${type} event` });
    },
    async incidents(query = {}) {
      const search = new URLSearchParams({ limit: '200', ...query }).toString();
      return (await recoveryApi.json<{ items: Incident[] }>('GET', `/v1/incidents?${search}`, 200)).items;
    },
    incident(id) {
      return recoveryApi.json<Incident & { steps: IncidentStep[] }>('GET', `/v1/incidents/${id}`, 200);
    },
    async waitForClosedIncident(about, timeoutMs = 30_000) {
      const closed = await waitFor(async () => (await world.incidents({ state: 'closed' })).find((incident) => incident.assemblyId === about || incident.resourceId === about), {
        timeoutMs,
        intervalMs: 200,
        what: `an incident about ${about} to close`,
      });
      return world.incident(closed.id);
    },
    async close() {
      for (const child of processes) await child.kill('SIGTERM').catch(() => null);
      for (const service of recoveries) await service.stop().catch(() => undefined);
      await cleanUpServiceBus(base.bus, ['recovery']).catch(() => undefined);
      await base.close();
    },
  };
  try {
    for (let index = 0; index < (options.recoveries ?? 1); index++) await world.startRecovery(options.recovery);
  } catch (error) {
    await world.close().catch(() => undefined);
    throw error;
  }
  return world;
}

/** A manifest on the simulated OpenStack cloud, quick heartbeats, and the given assemblies. */
export function manifestOf(name: string, assemblies: ManifestInput['assemblies'], extra: Partial<ManifestInput> = {}): ManifestInput {
  return { apiVersion: 'defib/v1', kind: 'Deployable', name, cloud: 'sim-openstack', ...extra, assemblies };
}

/** An assembly with 500 ms heartbeats (missed 3) and one resource checked every 500 ms. */
export function assemblyOf(name: string, extra: Partial<ManifestInput['assemblies'][number]> = {}): ManifestInput['assemblies'][number] {
  return {
    name,
    image: 'fedora-40',
    flavor: 'm1.small',
    heartbeat: { interval: '500ms', missed: 3 },
    resources: [{ name: 'svc', monitor: { interval: '500ms', timeout: '250ms' } }],
    ...extra,
  };
}

/** Runs a deployable of one assembly `vm` (with its resource `svc`): its ids. */
export async function runningAssembly(
  world: RecoveryWorld,
  name: string,
  assembly: Partial<ManifestInput['assemblies'][number]> = {},
  extra: Partial<ManifestInput> = {},
): Promise<{ deployable: AppliedDeployable; assemblyId: string; resourceId: string }> {
  const deployable = await world.run(manifestOf(name, [assemblyOf('vm', assembly)], extra));
  return { deployable, assemblyId: deployable.assemblyIds.vm ?? '', resourceId: deployable.resourceIds['vm/svc'] ?? '' };
}

/** An incident's steps as `kind:state`, in order. */
export function rungs(steps: readonly IncidentStep[]): string[] {
  return steps.map((step) => `${step.kind}:${step.state}`);
}

const ladderKinds = new Set(['restart-resource', 'reboot', 'hard-reboot', 'recreate', 'restart-deployable']);

/** An incident's rungs of the ladder as `kind:state`, in order (its launch, stop and fence steps left out). */
export function ladderRungs(steps: readonly IncidentStep[]): string[] {
  return rungs(steps.filter((step) => ladderKinds.has(step.kind)));
}

/** Whether the steps are listed in the order they were taken. */
export function stepsInOrder(steps: readonly IncidentStep[]): boolean {
  const intended = steps.map((step) => Date.parse(step.intendedAt));
  return intended.every((time, index) => index === 0 || time >= (intended[index - 1] ?? 0));
}
