/**
 * How fast recovery acts and how it holds up in a storm: a registry and a recovery service in
 * this process, a monitor process, the simulator's cloud with its agents beating over RabbitMQ, on a
 * database and bus prefix of their own. Deployables are applied and started through the
 * registry's API and launched by recovery.
 *
 *   node bench/recovery-storm.ts [--host-vms 500 --limit 20 --incidents 100]
 *
 * Phases, each printing its figures:
 *   1. host failure: `--host-vms` VMs (deployables of 10 assemblies, ladder [recreate]) all on one
 *      host, which then fails; recovery may run `--limit` actions at once on the cloud. Time until
 *      every assembly is recovered, as a ratio to the floor ceil(N / limit) × (build + agent start +
 *      one heartbeat interval); duplicates (two instances of one assembly running at once, from
 *      the simulator's timeline); recovery's peak of concurrent actions;
 *   2. first action: `--incidents` deployables of one assembly each; one resource of each crashes
 *      at once. For every incident, the failure event (its occurredAt, and its arrival on the bus)
 *      → recovery's first cloud or agent action, p50/p99/max.
 * Machine load (os.loadavg) before and after. Everything it created (services, simulator, bus
 * objects of its prefix, database) is removed at the end. DATABASE_URL and AMQP_URL override the
 * local defaults.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { DomainEvent, ManifestInput } from '@defib/contracts';
import { Bus, busTopology, createLogger, deleteBusObjects, processEnvironment } from '@defib/platform';
import { createRecoveryService, loadRecoveryConfig } from '@defib/recovery';
import { createRegistryService, loadRegistryConfig } from '@defib/registry';
import { createSimulator, faultSpecSchema } from '@defib/simulator';
import { startServiceProcess } from '../test/support/service-process.ts';
import { fixed, ms, percentiles, print } from './figures.ts';

const environment = processEnvironment();
const DATABASE_URL = environment.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const AMQP_URL = environment.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const CLOUD = 'bench-openstack';
const FAILING_HOST = 'rack-1';
const OTHER_HOSTS = ['rack-2', 'rack-3', 'rack-4'];
const ASSEMBLIES_PER_DEPLOYABLE = 10;
const HEARTBEAT_MS = 500;
/** Simulated cloud and agent timings (no speed factor): the floor of one VM's recovery is build + agent start + one beat. */
const timings = { build: 1_500, reboot: 1_500, hardReboot: 1_000, stop: 500, start: 1_000, rebuild: 1_500, delete: 300, jitter: 0, deletedRetention: 600_000, statusChecksAfter: 500 };
const agentTimings = { agentStart: 200, resourceStart: 200, restart: 300, start: 300, stop: 200, reconfigure: 100, jitter: 0 };
const PHASE_LIMIT_MS = 600_000;

const { values: args } = parseArgs({
  options: {
    'host-vms': { type: 'string', default: '500' },
    limit: { type: 'string', default: '20' },
    incidents: { type: 'string', default: '100' },
  },
});
const settings = {
  hostVms: Math.ceil(Number(args['host-vms']) / ASSEMBLIES_PER_DEPLOYABLE) * ASSEMBLIES_PER_DEPLOYABLE,
  limit: Number(args.limit),
  incidents: Number(args.incidents),
};

/** Polls `probe` every 100 ms until it returns a value, or throws after `limitMs`. */
async function until<T>(probe: () => T | undefined | Promise<T | undefined>, limitMs: number, what: string): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${limitMs / 1_000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface SpiedEvent {
  event: DomainEvent;
  arrivedAt: number;
}

async function run(): Promise<void> {
  const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const prefix = `bench-${suffix}`;
  const databaseName = `bench_recovery_${suffix}`;
  const adminToken = randomBytes(24).toString('hex');
  const serviceToken = randomBytes(16).toString('hex');
  const loadAtStart = loadavg();
  // The services' warnings under this load (leases lost to a busy event loop, launches retried) are many; errors only.
  const logger = createLogger({ service: 'bench', level: 'error' });
  print(`recovery storm: a ${settings.hostVms}-VM host failure under ${settings.limit} concurrent actions; ${settings.incidents} concurrent incidents`);

  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${pg.escapeIdentifier(databaseName)}`);
  const databaseUrl = new URL(DATABASE_URL);
  databaseUrl.pathname = `/${databaseName}`;
  const cleanUps: (() => Promise<unknown>)[] = [];
  cleanUps.push(async () => {
    await admin.query(`drop database if exists ${pg.escapeIdentifier(databaseName)} with (force)`);
    await admin.end();
  });
  const consumers = ['registry', 'monitor', 'recovery', 'bench-spy'];
  cleanUps.push(() => deleteBusObjects(AMQP_URL, busTopology(prefix, consumers)));

  try {
    const simulator = createSimulator({
      seed: `bench-${suffix}`,
      clouds: [{ name: CLOUD, provider: 'openstack', zones: [{ name: 'nova', hosts: [FAILING_HOST, ...OTHER_HOSTS] }], timings }],
      agents: { timings: agentTimings },
    });
    const simulatorUrl = (await simulator.start(0, '127.0.0.1')).url;
    cleanUps.push(() => simulator.stop());

    const spied = new Map<string, SpiedEvent>();
    const recovered = new Set<string>();
    const spy = new Bus({ url: AMQP_URL, prefix, connectionName: 'bench-recovery-spy', logger });
    await spy.start();
    cleanUps.push(() => spy.close());
    await spy.consume({
      consumer: 'bench-spy',
      bindings: ['#'],
      handle(message) {
        const event = JSON.parse(message.content.toString('utf8')) as DomainEvent;
        spied.set(event.id, { event, arrivedAt: Date.now() });
        if (event.type === 'assembly.recovered' && 'assemblyId' in event.subject && event.subject.assemblyId !== undefined) recovered.add(event.subject.assemblyId);
        return Promise.resolve('ack');
      },
    });

    const shared: Record<string, string> = {
      DATABASE_URL: databaseUrl.toString(),
      AMQP_URL,
      BUS_PREFIX: prefix,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      DEFIB_ADMIN_TOKEN: adminToken,
      DEFIB_SERVICE_TOKENS: serviceToken,
      DEFIB_OPEN_READS: 'true',
      DEFIB_AGENT_SECRET: randomBytes(32).toString('base64'),
      DEFIB_SERVICE_TOKEN: serviceToken,
    };
    const registry = createRegistryService(loadRegistryConfig({ ...shared, DEFIB_SECRET_KEY: randomBytes(32).toString('base64') }), { logger });
    const registryUrl = (await registry.start()).url;
    cleanUps.push(() => registry.stop());
    const call = async (method: string, path: string, body?: unknown): Promise<void> => {
      const response = await fetch(`${registryUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    };
    await call('PUT', `/v1/clouds/${CLOUD}`, {
      provider: 'openstack',
      authUrl: `${simulatorUrl}/identity/v3`,
      region: 'RegionOne',
      credentials: { username: 'admin', password: 'secret', project: 'admin', domain: 'Default' },
      // The drivers' own limits stay out of the way: recovery's action limit is what is measured.
      limits: { requestsPerSecond: 1_000, concurrency: 100 },
    });

    const services = { ...shared, DEFIB_REGISTRY_URL: registryUrl };
    // The monitor runs as a process of its own, as it would in production; recovery stays here for `onAction`.
    consumers.push(`monitor.bench-monitor`);
    const monitor = await startServiceProcess('monitor', {
      ...services,
      // Info: the process says it listens at that level.
      LOG_LEVEL: 'info',
      DEFIB_SECRET_KEY: randomBytes(32).toString('base64'),
      MONITOR_REPLICA_ID: 'bench-monitor',
      MONITOR_BOOT_GRACE: '8s',
      MONITOR_CLOUD_POLL_INTERVAL: '500ms',
      MONITOR_LEASE: '3s',
    });
    cleanUps.push(() => monitor.kill('SIGTERM'));

    /** First action of each incident (by its id), with the incident's trigger event. */
    const firstActions = new Map<string, { at: number; triggerEventId: string | null }>();
    const recovery = createRecoveryService(
      loadRecoveryConfig({
        ...services,
        DEFIB_SECRET_KEY: randomBytes(32).toString('base64'),
        RECOVERY_REPLICA_ID: 'bench-recovery',
        RECOVERY_CLOUD_ACTIONS: String(settings.limit),
        RECOVERY_LEASE: '10s',
        RECOVERY_BOOT_TIMEOUT: '30s',
        RECOVERY_VERIFY_INTERVAL: '100ms',
        RECOVERY_RETRY_BASE: '200ms',
        RECOVERY_RETRY_MAX: '2s',
      }),
      {
        logger,
        onAction(incident) {
          if (incident !== undefined && !firstActions.has(incident.id)) firstActions.set(incident.id, { at: Date.now(), triggerEventId: incident.trigger_event_id });
        },
      },
    );
    consumers.push('recovery.bench-recovery');
    await recovery.start();
    cleanUps.push(() => recovery.stop());

    const inject = (spec: unknown) => simulator.faults.inject(faultSpecSchema.parse(spec), { source: 'api' });
    const startAll = async (manifests: readonly ManifestInput[]): Promise<string[]> => {
      const assemblyIds: string[] = [];
      for (const manifest of manifests) {
        const response = await fetch(`${registryUrl}/v1/deployables/${manifest.name}`, { method: 'PUT', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(manifest) });
        if (response.status >= 300) throw new Error(`apply ${manifest.name}: ${response.status} ${await response.text()}`);
        const body = (await response.json()) as { assemblies: { id: string }[] };
        assemblyIds.push(...body.assemblies.map((assembly) => assembly.id));
        await call('POST', `/v1/deployables/${manifest.name}/start`);
      }
      return assemblyIds;
    };
    const running = (names: readonly string[]) => {
      const states = new Map<string, string>();
      for (const { event } of spied.values()) if (event.type === 'deployable.state-changed') states.set(event.subject.deployable, event.data.to);
      return names.every((name) => states.get(name) === 'running') ? true : undefined;
    };
    const heartbeat = { interval: `${HEARTBEAT_MS}ms`, missed: 3 };

    // 1. Host failure -------------------------------------------------------------------------
    const others = OTHER_HOSTS.map((host) => inject({ kind: 'host-failure', target: { cloud: CLOUD, host } }));
    const stormNames = Array.from({ length: settings.hostVms / ASSEMBLIES_PER_DEPLOYABLE }, (_, index) => `storm-${index}`);
    const setUpStarted = Date.now();
    const stormIds = await startAll(
      stormNames.map((name) => ({
        apiVersion: 'defib/v1',
        kind: 'Deployable',
        name,
        cloud: CLOUD,
        assemblies: Array.from({ length: ASSEMBLIES_PER_DEPLOYABLE }, (_, index) => ({ name: `n${index}`, image: 'fedora-40', flavor: 'm1.small', heartbeat, escalation: { maxRecoveries: 3, window: '15m', ladder: ['recreate'] } })),
      })),
    );
    await until(() => running(stormNames), PHASE_LIMIT_MS, `${stormNames.length} deployables to run`);
    for (const fault of others) simulator.faults.heal(fault.id);
    const onHost = simulator.clouds.get(CLOUD)?.vmsOnHost(FAILING_HOST).length ?? 0;
    print(`1. set-up           ${stormIds.length} assemblies running in ${fixed((Date.now() - setUpStarted) / 1_000)} s, ${onHost} VMs on ${FAILING_HOST}`);

    const failedAt = Date.now();
    inject({ kind: 'host-failure', target: { cloud: CLOUD, host: FAILING_HOST } });
    await until(() => (stormIds.every((id) => recovered.has(id)) ? true : undefined), PHASE_LIMIT_MS, 'every assembly to be recovered');
    const elapsedMs = Date.now() - failedAt;
    const perVmFloorMs = timings.build + agentTimings.agentStart + HEARTBEAT_MS;
    const floorMs = Math.ceil(stormIds.length / settings.limit) * perVmFloorMs;
    const histories = simulator.timeline.assemblies();
    const overlaps = histories.reduce((sum, history) => sum + history.overlaps.length, 0);
    const stormSet = new Set(stormIds);
    const instances = histories.filter((history) => stormSet.has(history.assemblyId)).map((history) => new Set(history.intervals.map((interval) => interval.vmId)).size);
    const extra = instances.reduce((sum, count) => sum + Math.max(0, count - 2), 0);
    const peak = recovery.slots.snapshot()[CLOUD]?.peak ?? 0;
    print(`   recovered        all ${stormIds.length} in ${fixed(elapsedMs / 1_000)} s; floor ceil(${stormIds.length}/${settings.limit}) × ${perVmFloorMs} ms = ${fixed(floorMs / 1_000)} s; ratio ${fixed(elapsedMs / floorMs, 2)} (goal ≤ 1.2)`);
    print(`   duplicates       ${overlaps} overlaps of two running instances (goal 0); ${extra} instances beyond one replacement per assembly`);
    print(`   concurrency      peak ${peak} concurrent actions on ${CLOUD} (limit ${settings.limit})`);

    // 2. First action -------------------------------------------------------------------------
    const incidentNames = Array.from({ length: settings.incidents }, (_, index) => `burst-${index}`);
    const burstIds = await startAll(
      incidentNames.map((name) => ({
        apiVersion: 'defib/v1',
        kind: 'Deployable',
        name,
        cloud: CLOUD,
        assemblies: [{ name: 'vm', image: 'fedora-40', flavor: 'm1.small', heartbeat, resources: [{ name: 'svc', monitor: { interval: '500ms', timeout: '250ms' } }] }],
      })),
    );
    await until(() => running(incidentNames), PHASE_LIMIT_MS, `${incidentNames.length} deployables to run`);
    const before = new Set(firstActions.keys());
    for (const assemblyId of burstIds) inject({ kind: 'resource-crash', target: { assembly: assemblyId }, resource: 'svc' });
    const fresh = await until(
      () => {
        const entries = [...firstActions.entries()].filter(([id]) => !before.has(id));
        return entries.length >= burstIds.length ? entries : undefined;
      },
      120_000,
      `a first action for each of ${burstIds.length} incidents`,
    );
    const fromOccurred: number[] = [];
    const fromArrival: number[] = [];
    const arrivals: number[] = [];
    for (const [, action] of fresh) {
      const trigger = action.triggerEventId === null ? undefined : spied.get(action.triggerEventId);
      if (trigger === undefined) continue;
      fromOccurred.push(action.at - Date.parse(trigger.event.occurredAt));
      fromArrival.push(action.at - trigger.arrivedAt);
      arrivals.push(trigger.arrivedAt);
    }
    const firstArrival = Math.min(...arrivals);
    const lastAction = Math.max(...fresh.map(([, action]) => action.at));
    print(`2. first action     ${fresh.length} incidents (${fromOccurred.length} with their trigger seen on the bus)`);
    // Spread: whether the incidents are worked on together or one after another.
    print(`   spread           triggers arrived within ${fixed(Math.max(...arrivals) - firstArrival, 0)} ms; the last first action came ${fixed(lastAction - firstArrival, 0)} ms after the first trigger`);
    print(`   from occurredAt  ${ms(percentiles(fromOccurred))}`);
    print(`   from arrival     ${ms(percentiles(fromArrival))} (goal p99 < 100 ms)`);
    const loadAtEnd = loadavg();
    print(`load               1/5/15 min ${loadAtStart.map((value) => fixed(value, 2)).join('/')} → ${loadAtEnd.map((value) => fixed(value, 2)).join('/')}`);
  } finally {
    for (const cleanUp of cleanUps.reverse()) await cleanUp().catch((error: unknown) => process.stderr.write(`clean-up: ${String(error)}\n`));
  }
}

const deadline = setTimeout(
  () => {
    process.stderr.write('bench: gave up (overall time limit)\n');
    process.exit(1);
  },
  2 * PHASE_LIMIT_MS + 300_000,
);
deadline.unref();
await run();
clearTimeout(deadline);
