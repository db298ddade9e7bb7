/**
 * How fast one monitor process tells a silent VM, and whether it cries wolf: N simulated VMs
 * (signed heartbeats every interval, with jitter and loss on the agents' side) watched by a real
 * monitor running as a child process on its own database and bus prefix.
 *
 *   node bench/monitor-detection.ts [--vms 10000] [--interval 1000] [--missed 3] [--silences 200] [--soak-seconds 600] [--pause-ms 5000] [--jitter 0.2] [--loss 0.01]
 *
 * Phases, each printing its figures:
 *   1. set-up: N/10 deployables of 10 assemblies are start-requested, N VMs with real agent
 *      configurations built by the in-process simulator, each launch published; waits until the
 *      monitor counts ~all assemblies alive, then until it no longer lags (the first beats of every
 *      agent at once are a backlog);
 *   2. detection: `--silences` random VMs hang, spread over 20 s; for each, the monitor's own
 *      verdict delay (occurredAt − lastHeartbeatAt − missed × interval) and end to end (the spy's
 *      receipt − the last beat handed to the broker − missed × interval); verdicts for other VMs
 *      are false positives;
 *   3. soak: `--soak-seconds` of full load: false positives, monitor CPU and heap, broker CPU,
 *      heartbeats accepted and rejected per second;
 *   4. lag drill: the monitor is stopped (SIGSTOP) for `--pause-ms`, then continued; false
 *      failures, `monitor.degraded` and `monitor.recovered` events (goal: one each), watched until
 *      it caught up.
 * Everything it created (child, simulator, bus objects of its prefix, database) is removed at the
 * end. DATABASE_URL and AMQP_URL override the local defaults.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  createDomainEvent,
  deriveAgentKey,
  encodeAgentConfig,
  encodeAgentKey,
  heartbeatRoutingKey,
  resourceIdKey,
  validateManifest,
  type Address,
  type DomainEvent,
  type EventType,
  type Manifest,
} from '@defib/contracts';
import { Bus, busNames, busTopology, createLogger, deleteBusObjects, openBrokerConnection, processEnvironment } from '@defib/platform';
import { AmqpAgentNetwork, createSimulator, type AgentLink, type AgentNetwork, type Simulator } from '@defib/simulator';
import { fixed, ms, percentiles, print } from './figures.ts';

const environment = processEnvironment();
const DATABASE_URL = environment.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const AMQP_URL = environment.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLOUD = 'bench';
const REPLICA = 'bench-replica';
const ASSEMBLIES_PER_DEPLOYABLE = 10;
const SILENCE_SPREAD_MS = 20_000;
const LAG_DRILL_AFTER_MS = 15_000;
/** How long the bench waits for the monitor to stop lagging, after the set-up and after the drill. */
const STEADY_LIMIT_MS = 120_000;
const SET_UP_LIMIT_MS = 300_000;
/** Linux reports process CPU in clock ticks of 1/100 s. */
const CLOCK_TICKS_PER_SECOND = 100;

const { values: args } = parseArgs({
  options: {
    vms: { type: 'string', default: '10000' },
    interval: { type: 'string', default: '1000' },
    missed: { type: 'string', default: '3' },
    silences: { type: 'string', default: '200' },
    'soak-seconds': { type: 'string', default: '600' },
    'pause-ms': { type: 'string', default: '5000' },
    jitter: { type: 'string', default: '0.2' },
    loss: { type: 'string', default: '0.01' },
  },
});
const settings = {
  vms: Math.ceil(Number(args.vms) / ASSEMBLIES_PER_DEPLOYABLE) * ASSEMBLIES_PER_DEPLOYABLE,
  intervalMs: Number(args.interval),
  missed: Number(args.missed),
  silences: Number(args.silences),
  soakSeconds: Number(args['soak-seconds']),
  pauseMs: Number(args['pause-ms']),
  jitter: Number(args.jitter),
  loss: Number(args.loss),
};
const timeoutMs = settings.missed * settings.intervalMs;

// ---------------------------------------------------------------------------------------------
// Figures

const sleep = (delayMs: number) => new Promise((resolve) => setTimeout(resolve, delayMs));

/** CPU seconds a process has used, from /proc (undefined when it is gone or /proc is not Linux's). */
async function cpuSecondsOf(pid: number): Promise<number | undefined> {
  try {
    // After the command's closing parenthesis, utime and stime are the 12th and 13th fields.
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The local RabbitMQ's process (beam.smp), when this machine runs it. */
async function brokerPid(): Promise<number | undefined> {
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const command = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (command.trim() === 'beam.smp') return Number(entry);
  }
  return undefined;
}

/** Heartbeats waiting in the monitor's own agent queue (undefined when it cannot be asked). */
async function agentQueueDepth(prefix: string): Promise<number | undefined> {
  const connection = await openBrokerConnection(AMQP_URL, { connectionName: 'bench-monitor-queue-depth' });
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return (await channel.checkQueue(busNames(prefix).agentQueue(`monitor.${REPLICA}`))).messageCount;
  } catch {
    return undefined;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** CPU of a process over a window, as a fraction of one core. */
function cpuMeter(pid: number | undefined) {
  let start: { seconds: number | undefined; at: number } = { seconds: undefined, at: 0 };
  return {
    async begin(): Promise<void> {
      start = { seconds: pid === undefined ? undefined : await cpuSecondsOf(pid), at: Date.now() };
    },
    async share(): Promise<string> {
      const seconds = pid === undefined ? undefined : await cpuSecondsOf(pid);
      if (seconds === undefined || start.seconds === undefined) return 'n/a';
      return `${fixed((seconds - start.seconds) / ((Date.now() - start.at) / 1_000), 3)} of one core`;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The agents' unreliable network

/** What the network did to the heartbeats, and when each assembly's latest beat went to the broker. */
interface HeartbeatTraffic {
  handed: number;
  lost: number;
  /** By heartbeat routing key: when its latest beat was handed to the broker (after its delay). */
  lastHandedAt: Map<string, number>;
  /** By heartbeat routing key: its latest beats, to explain a false alarm. */
  recent: Map<string, BeatFate[]>;
}

interface BeatFate {
  at: number;
  fate: 'handed' | 'lost';
}

const RECENT_BEATS = 8;

function remember(traffic: HeartbeatTraffic, routingKey: string, fate: BeatFate): void {
  const recent = traffic.recent.get(routingKey) ?? [];
  recent.push(fate);
  if (recent.length > RECENT_BEATS) recent.shift();
  traffic.recent.set(routingKey, recent);
}

/**
 * Wraps the simulator's network so each heartbeat is lost with probability `loss`, otherwise
 * delayed by a random 0..`jitter` × interval; commands and replies pass untouched. Until
 * `open()`, every heartbeat is held back (dropped), so the monitor learns what to watch before
 * N beats per interval compete with that work.
 */
function unreliable(network: AgentNetwork, options: { loss: number; maxDelayMs: number }): AgentNetwork & { traffic: HeartbeatTraffic; open(): void } {
  const traffic: HeartbeatTraffic = { handed: 0, lost: 0, lastHandedAt: new Map(), recent: new Map() };
  let closed = false;
  let opened = false;
  return {
    traffic,
    open: () => {
      opened = true;
    },
    link(brokerUrl: string): AgentLink {
      const link = network.link(brokerUrl);
      return {
        publish(exchange, routingKey, body) {
          if (!routingKey.startsWith('heartbeat.')) return link.publish(exchange, routingKey, body);
          if (!opened) return true;
          if (Math.random() < options.loss) {
            traffic.lost++;
            remember(traffic, routingKey, { at: Date.now(), fate: 'lost' });
            return true;
          }
          setTimeout(() => {
            if (closed || !link.publish(exchange, routingKey, body)) return;
            traffic.handed++;
            traffic.lastHandedAt.set(routingKey, Date.now());
            remember(traffic, routingKey, { at: Date.now(), fate: 'handed' });
          }, Math.random() * options.maxDelayMs);
          return true;
        },
        listenForCommands: (exchange, assemblyId, deliver) => link.listenForCommands(exchange, assemblyId, deliver),
      };
    },
    beginBatch: () => network.beginBatch?.(),
    endBatch: () => network.endBatch?.(),
    close: () => {
      closed = true;
      return network.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The monitor process and what it says

interface MonitorProcess {
  url: string;
  child: ChildProcess;
  pid: number;
  output: string[];
  stop(): Promise<void>;
}

/** A port nobody listens on now, for the child to take. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Runs the monitor's real `main.ts` and resolves once it answers on its port; kills it if it never does. */
async function startMonitorProcess(env: Record<string, string>, startTimeoutMs = 60_000): Promise<MonitorProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [`${ROOT}services/monitor/src/main.ts`], {
    // No settings file: the child sees exactly these variables.
    env: { PATH: environment.PATH ?? '', PORT: String(port), LOG_LEVEL: 'warn', DEFIB_ENV_FILE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => output.push(line));
  const monitor: MonitorProcess = {
    url: `http://127.0.0.1:${port}`,
    child,
    pid: child.pid ?? 0,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
  const giveUpAt = Date.now() + startTimeoutMs;
  while (Date.now() < giveUpAt && child.exitCode === null) {
    const answered = await fetch(`${monitor.url}/metrics`).then(
      (response) => response.ok,
      () => false,
    );
    if (answered) return monitor;
    await sleep(250);
  }
  await monitor.stop();
  throw new Error(`the monitor did not start within ${startTimeoutMs} ms:\n${output.join('\n')}`);
}

/** One Prometheus sample as the monitor exposes it. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The monitor's Prometheus samples. */
async function scrape(monitorUrl: string): Promise<Sample[]> {
  const response = await fetch(`${monitorUrl}/metrics`);
  const samples: Sample[] = [];
  for (const line of (await response.text()).split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key ?? '', value ?? '']));
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

/** Per second over a window, by one label: `reason 12.3/s, …` (only the ones that moved). */
function ratesBy(before: readonly Sample[], after: readonly Sample[], name: string, label: string, seconds: number): string {
  const values = new Set(after.filter((sample) => sample.name === name).map((sample) => sample.labels[label] ?? ''));
  const rates = [...values].map((value) => [value, (total(after, name, { [label]: value }) - total(before, name, { [label]: value })) / seconds] as const);
  return (
    rates
      .filter(([, rate]) => rate > 0)
      .map(([value, rate]) => `${value} ${fixed(rate, 2)}/s`)
      .join(', ') || 'none'
  );
}

/** The sum of the samples of `name` that carry every label in `where`. */
function total(samples: readonly Sample[], name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const sample of samples) {
    if (sample.name === name && Object.entries(where).every(([key, value]) => sample.labels[key] === value)) sum += sample.value;
  }
  return sum;
}

interface SpiedEvent {
  event: DomainEvent;
  receivedAt: number;
  /** For a verdict: what the network did to that VM's latest beats, as they stood when the verdict arrived. */
  beats?: BeatFate[];
}

const isVerdict = (event: DomainEvent) => event.type === 'assembly.unresponsive' || event.type === 'assembly.failed';
const assemblyOf = (event: DomainEvent): string | undefined => ('assemblyId' in event.subject ? event.subject.assemblyId : undefined);
/** Every event on the bench's prefix, with when it arrived here. */
async function startSpy(prefix: string, traffic: HeartbeatTraffic): Promise<{ events: SpiedEvent[]; close(): Promise<void> }> {
  const events: SpiedEvent[] = [];
  const bus = new Bus({ url: AMQP_URL, prefix, connectionName: 'bench-monitor-spy', logger: createLogger({ service: 'bench-spy', level: 'warn' }) });
  await bus.start();
  await bus.consume({
    consumer: 'bench-spy',
    bindings: ['#'],
    prefetch: 1_000,
    handle(message) {
      const spied = JSON.parse(message.content.toString('utf8')) as DomainEvent;
      const beats = isVerdict(spied) ? traffic.recent.get(heartbeatRoutingKey(assemblyOf(spied) ?? '')) : undefined;
      events.push({ event: spied, receivedAt: Date.now(), ...(beats === undefined ? {} : { beats: [...beats] }) });
      return Promise.resolve('ack');
    },
  });
  return { events, close: () => bus.close() };
}

// ---------------------------------------------------------------------------------------------
// The world

interface WatchedVm {
  vmId: string;
  assemblyId: string;
  heartbeatKey: string;
}

function manifestOf(name: string): Manifest {
  const validation = validateManifest({
    apiVersion: 'defib/v1',
    kind: 'Deployable',
    name,
    cloud: CLOUD,
    assemblies: Array.from({ length: ASSEMBLIES_PER_DEPLOYABLE }, (_, index) => ({
      name: `a${index}`,
      image: 'fedora-40',
      flavor: 'm1.small',
      heartbeat: { interval: `${settings.intervalMs}ms`, missed: settings.missed },
      resources: [{ name: 'httpd', monitor: { interval: '2s', timeout: '1s' } }],
    })),
  });
  if (!validation.ok) throw new Error(`bad manifest: ${JSON.stringify(validation.issues)}`);
  return validation.manifest;
}

const addressesOf = (vm: { addresses: readonly { network: string; address: string; kind: string }[] }): Address[] =>
  vm.addresses.map((address) => ({ address: address.address, type: address.kind === 'floating' ? 'floating' : 'fixed', network: address.network, version: 4 }));

/** Publishes in bounded batches: the bus waits for the broker's confirm of each. */
async function publishAll(bus: Bus, events: readonly DomainEvent[]): Promise<void> {
  for (let start = 0; start < events.length; start += 500) {
    await Promise.all(events.slice(start, start + 500).map((event) => bus.publish({ id: event.id, routingKey: event.type, body: event, type: event.type, correlationId: event.correlationId })));
  }
}

function event<T extends EventType>(type: T, init: Omit<Parameters<typeof createDomainEvent<T>>[1], 'correlationId'>): DomainEvent {
  return createDomainEvent(type, { ...init, correlationId: randomUUID() }) as DomainEvent;
}

/** Start requests for N/10 deployables, N VMs with real agent configurations, and their launches. */
async function populate(simulator: Simulator, publisher: Bus, agentSecret: Buffer, prefix: string): Promise<WatchedVm[]> {
  const cloud = simulator.clouds.get(CLOUD);
  if (cloud === undefined) throw new Error('the simulator has no bench cloud');
  const imageId = cloud.images[0]?.id ?? '';
  const exchange = busNames(prefix).agentsExchange;
  const starts: DomainEvent[] = [];
  const launches: DomainEvent[] = [];
  const vms: WatchedVm[] = [];
  for (let index = 0; index < settings.vms / ASSEMBLIES_PER_DEPLOYABLE; index++) {
    const name = `bench-${index}`;
    const deployableId = randomUUID();
    const manifest = manifestOf(name);
    const assemblyIds = Object.fromEntries(manifest.assemblies.map((assembly) => [assembly.name, randomUUID()]));
    const resourceIds = Object.fromEntries(manifest.assemblies.flatMap((assembly) => assembly.resources.map((resource) => [resourceIdKey(assembly.name, resource.name), randomUUID()])));
    starts.push(event('deployable.start-requested', { subject: { deployableId, deployable: name }, data: { version: 1, cloud: CLOUD, manifest, assemblyIds, resourceIds } }));
    for (const assembly of manifest.assemblies) {
      const assemblyId = assemblyIds[assembly.name] ?? '';
      const userData = encodeAgentConfig({
        protocol: 1,
        brokerUrl: AMQP_URL,
        exchange,
        deployableId,
        assemblyId,
        key: encodeAgentKey(deriveAgentKey(agentSecret, assemblyId)),
        assembly: assembly.name,
        heartbeatIntervalMs: assembly.heartbeat.intervalMs,
        resources: assembly.resources.map((resource) => ({ name: resource.name, monitorIntervalMs: resource.monitor.intervalMs, monitorTimeoutMs: resource.monitor.timeoutMs })),
      });
      const [vm] = cloud.create({ name: `${name}-${assembly.name}`, imageId, flavorId: '1', userData });
      if (vm === undefined) throw new Error('the simulator created no VM');
      vms.push({ vmId: vm.id, assemblyId, heartbeatKey: heartbeatRoutingKey(assemblyId) });
      launches.push(
        event('assembly.launched', {
          subject: { deployableId, deployable: name, assemblyId, assembly: assembly.name },
          data: { instanceId: vm.id, cloud: CLOUD, addresses: addressesOf(vm) },
        }),
      );
    }
  }
  await publishAll(publisher, starts);
  await publishAll(publisher, launches);
  return vms;
}

/** Polls the monitor's metrics until `until` holds or `deadlineMs` passes; returns the last samples. */
async function pollMetrics(monitorUrl: string, until: (samples: readonly Sample[]) => boolean, deadlineMs: number): Promise<Sample[]> {
  const giveUpAt = Date.now() + deadlineMs;
  for (;;) {
    const samples = await scrape(monitorUrl);
    if (until(samples) || Date.now() > giveUpAt) return samples;
    await sleep(1_000);
  }
}

/** One line per false alarm: what the monitor said, and what the network did to that VM's latest beats. */
function explain(alarms: readonly SpiedEvent[]): string[] {
  return alarms.map(({ event: alarm, beats = [] }) => {
    const occurredAt = Date.parse(alarm.occurredAt);
    const story = beats.map(({ at, fate }) => `${fate === 'lost' ? 'lost ' : ''}${at - occurredAt}`).join(', ');
    return `     ${alarm.type} ${assemblyOf(alarm) ?? '?'} ${JSON.stringify(alarm.data)}; its beats (ms from the verdict): ${story}`;
  });
}


// ---------------------------------------------------------------------------------------------
// The run

async function run(): Promise<void> {
  const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const prefix = `bench-${suffix}`;
  const databaseName = `bench_monitor_${suffix}`;
  const agentSecret = randomBytes(32);
  const loadAtStart = loadavg()[0] ?? 0;
  const logger = createLogger({ service: 'bench', level: 'warn' });
  print(
    `monitor detection: ${settings.vms} VMs beating every ${settings.intervalMs} ms, ${settings.missed} missed = ${timeoutMs} ms timeout; jitter ${settings.jitter * 100} % of the interval, loss ${settings.loss * 100} %`,
  );

  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${pg.escapeIdentifier(databaseName)}`);
  const databaseUrl = new URL(DATABASE_URL);
  databaseUrl.pathname = `/${databaseName}`;

  const cleanUps: (() => Promise<unknown>)[] = [];
  const tearDown = async () => {
    for (const cleanUp of cleanUps.reverse()) await cleanUp().catch((error: unknown) => process.stderr.write(`clean-up: ${String(error)}\n`));
  };
  cleanUps.push(async () => {
    await admin.query(`drop database if exists ${pg.escapeIdentifier(databaseName)} with (force)`);
    await admin.end();
  });
  cleanUps.push(() => deleteBusObjects(AMQP_URL, busTopology(prefix, ['monitor', `monitor.${REPLICA}`, 'bench-spy'])));

  let monitorOutput: string[] = [];
  try {
    const publisher = new Bus({ url: AMQP_URL, prefix, connectionName: 'bench-monitor-publisher', logger });
    await publisher.start();
    cleanUps.push(() => publisher.close());
    const network = unreliable(new AmqpAgentNetwork({ logger }), { loss: settings.loss, maxDelayMs: settings.jitter * settings.intervalMs });
    const spy = await startSpy(prefix, network.traffic);
    cleanUps.push(() => spy.close());

    const monitor = await startMonitorProcess({
      DATABASE_URL: databaseUrl.toString(),
      AMQP_URL,
      BUS_PREFIX: prefix,
      DEFIB_ADMIN_TOKEN: randomBytes(24).toString('hex'),
      DEFIB_SECRET_KEY: randomBytes(32).toString('base64'),
      DEFIB_AGENT_SECRET: agentSecret.toString('base64'),
      DEFIB_SERVICE_TOKEN: randomBytes(16).toString('hex'),
      // No registry: the bench registers no cloud, so the cloud watch stays idle.
      DEFIB_REGISTRY_URL: 'http://127.0.0.1:1',
      DEFIB_OPEN_READS: 'true',
      MONITOR_REPLICA_ID: REPLICA,
      // Beats are held back until the monitor has learned every launch: the grace must outlast that.
      MONITOR_BOOT_GRACE: '10m',
    });
    cleanUps.push(() => monitor.stop());
    monitorOutput = monitor.output;

    const simulator = createSimulator({
      seed: `bench-${suffix}`,
      speedFactor: 20,
      clouds: [{ name: CLOUD, provider: 'openstack', zones: [{ name: 'nova', hosts: Array.from({ length: 100 }, (_, index) => `compute-${index + 1}`) }] }],
      agents: { network },
    });
    await simulator.start(0);
    cleanUps.push(() => simulator.stop());

    // 1. Set-up ------------------------------------------------------------------------------
    const setUpStarted = Date.now();
    const vms = await populate(simulator, publisher, agentSecret, prefix);
    const launched = (samples: readonly Sample[]) => total(samples, 'defib_monitor_watched_assemblies') - total(samples, 'defib_monitor_watched_assemblies', { state: 'idle' });
    await pollMetrics(monitor.url, (samples) => launched(samples) >= settings.vms, SET_UP_LIMIT_MS);
    const learnedAfter = (Date.now() - setUpStarted) / 1_000;
    network.open();
    const alive = (samples: readonly Sample[]) => total(samples, 'defib_monitor_watched_assemblies', { state: 'alive' });
    // With heartbeats lost at random, a few assemblies are always a beat late (suspect): they count as beating.
    const beating = (samples: readonly Sample[]) => alive(samples) + total(samples, 'defib_monitor_watched_assemblies', { state: 'suspect' });
    const settled = await pollMetrics(monitor.url, (samples) => beating(samples) >= settings.vms * 0.999, SET_UP_LIMIT_MS);
    const watched = ['booting', 'alive', 'suspect', 'unresponsive'].map((state) => `${state} ${total(settled, 'defib_monitor_watched_assemblies', { state })}`).join(', ');
    print(`1. set-up           ${vms.length} VMs launched and ${fixed(alive(settled), 0)} assemblies alive (${watched}) in ${fixed((Date.now() - setUpStarted) / 1_000)} s, every launch learned after ${fixed(learnedAfter)} s (${simulator.agents.runningCount} agents running)`);
    // Every agent starts beating at once: the monitor may still be draining that first backlog
    // (degraded, holding its verdicts). Measure from steady state.
    const steadyFrom = Date.now();
    const steady = await pollMetrics(monitor.url, (samples) => total(samples, 'defib_monitor_degraded') === 0, STEADY_LIMIT_MS);
    print(`   steady state     ${total(steady, 'defib_monitor_degraded') === 0 ? `after ${fixed((Date.now() - steadyFrom) / 1_000)} s more` : `not reached within ${STEADY_LIMIT_MS / 1_000} s: the monitor still lags (${fixed(total(steady, 'defib_monitor_lag_seconds'), 1)} s)`}`);

    // 2. Detection ---------------------------------------------------------------------------
    const hung = new Map<string, WatchedVm>();
    const shuffled = [...vms].sort(() => Math.random() - 0.5).slice(0, settings.silences);
    const detectionStarted = Date.now();
    for (const [index, vm] of shuffled.entries()) {
      const hangAt = detectionStarted + (index * SILENCE_SPREAD_MS) / Math.max(1, settings.silences);
      await sleep(Math.max(0, hangAt - Date.now()));
      simulator.agents.hang(vm.vmId);
      hung.set(vm.assemblyId, vm);
    }
    await sleep(timeoutMs + 5_000);
    const verdicts = spy.events.filter(({ event: spied, receivedAt }) => isVerdict(spied) && receivedAt >= detectionStarted);
    const firstVerdict = new Map<string, SpiedEvent>();
    for (const verdict of verdicts) {
      const assemblyId = assemblyOf(verdict.event);
      if (assemblyId !== undefined && !firstVerdict.has(assemblyId)) firstVerdict.set(assemblyId, verdict);
    }
    const ownDelays: number[] = [];
    const endToEnd: number[] = [];
    for (const [assemblyId, vm] of hung) {
      const verdict = firstVerdict.get(assemblyId);
      if (verdict === undefined) continue;
      const data = verdict.event.data as { lastHeartbeatAt?: string };
      if (data.lastHeartbeatAt !== undefined) ownDelays.push(Date.parse(verdict.event.occurredAt) - Date.parse(data.lastHeartbeatAt) - timeoutMs);
      const handedAt = network.traffic.lastHandedAt.get(vm.heartbeatKey);
      if (handedAt !== undefined) endToEnd.push(verdict.receivedAt - handedAt - timeoutMs);
    }
    const falseInDetection = verdicts.filter(({ event: spied }) => !hung.has(assemblyOf(spied) ?? ''));
    const own = percentiles(ownDelays);
    const overall = percentiles(endToEnd);
    const detected = [...hung.keys()].filter((assemblyId) => firstVerdict.has(assemblyId)).length;
    print(`2. detection        ${hung.size} hangs over ${SILENCE_SPREAD_MS / 1_000} s: ${detected} detected, ${hung.size - detected} missed`);
    print(`   monitor verdict  ${ms(own)} beyond the timeout (occurredAt − lastHeartbeatAt − ${timeoutMs} ms)`);
    print(`   end to end       ${ms(overall)} beyond the timeout (spy receipt − last beat handed to the broker − ${timeoutMs} ms)`);
    for (const line of explain(falseInDetection)) print(line);
    print(`   false positives  ${falseInDetection.length}; goal p99 ≤ +100 ms end to end: ${overall.p99 <= 100 ? 'met' : 'MISSED'}`);

    // 3. Soak --------------------------------------------------------------------------------
    const monitorCpu = cpuMeter(monitor.pid);
    const brokerCpu = cpuMeter(await brokerPid());
    const soakLoadAtStart = loadavg()[0] ?? 0;
    const soakStarted = Date.now();
    const before = await scrape(monitor.url);
    const depthAtStart = await agentQueueDepth(prefix);
    await monitorCpu.begin();
    await brokerCpu.begin();
    let peakHeap = 0;
    while (Date.now() - soakStarted < settings.soakSeconds * 1_000) {
      await sleep(5_000);
      peakHeap = Math.max(peakHeap, total(await scrape(monitor.url), 'nodejs_heap_size_used_bytes'));
    }
    const after = await scrape(monitor.url);
    const soakSeconds = (Date.now() - soakStarted) / 1_000;
    const rate = (name: string) => (total(after, name) - total(before, name)) / soakSeconds;
    const accepted = (total(after, 'defib_monitor_heartbeats_total', { outcome: 'accepted' }) - total(before, 'defib_monitor_heartbeats_total', { outcome: 'accepted' })) / soakSeconds;
    const rejected = rate('defib_monitor_heartbeats_total') - accepted + rate('defib_agent_messages_rejected_total');
    const falseInSoak = spy.events.filter(({ event: spied, receivedAt }) => receivedAt >= soakStarted && isVerdict(spied) && !hung.has(assemblyOf(spied) ?? ''));
    print(`3. soak             ${fixed(soakSeconds)} s of full load (${hung.size} VMs stay hung)`);
    print(`   false positives  ${falseInSoak.length}`);
    for (const line of explain(falseInSoak)) print(line);
    print(`   monitor CPU      ${await monitorCpu.share()}; heap used max ${fixed(peakHeap / 2 ** 20)} MiB`);
    print(`   broker CPU       ${await brokerCpu.share()}`);
    print(`   heartbeats       ${fixed(accepted)} /s accepted, ${fixed(rejected, 2)} /s rejected (expected ≈ ${fixed(((settings.vms - hung.size) * (1 - settings.loss) * 1_000) / settings.intervalMs)} /s)`);
    print(`   by outcome       ${ratesBy(before, after, 'defib_monitor_heartbeats_total', 'outcome', soakSeconds)}; channel rejections ${ratesBy(before, after, 'defib_agent_messages_rejected_total', 'reason', soakSeconds)}`);
    print(`   agent queue      ${depthAtStart ?? 'n/a'} → ${(await agentQueueDepth(prefix)) ?? 'n/a'} heartbeats waiting`);
    print(`   load average     ${fixed(soakLoadAtStart, 2)} → ${fixed(loadavg()[0] ?? 0, 2)}`);

    // 4. Lag drill ---------------------------------------------------------------------------
    const drillStarted = Date.now();
    monitor.child.kill('SIGSTOP');
    await sleep(settings.pauseMs);
    monitor.child.kill('SIGCONT');
    await sleep(LAG_DRILL_AFTER_MS);
    // A monitor near its capacity drains the backlog slowly: wait (bounded) for it to say it caught up.
    await pollMetrics(monitor.url, (samples) => total(samples, 'defib_monitor_degraded') === 0, STEADY_LIMIT_MS);
    await sleep(2_000);
    const inDrill = spy.events.filter(({ receivedAt }) => receivedAt >= drillStarted);
    const falseInDrill = inDrill.filter(({ event: spied }) => isVerdict(spied) && !hung.has(assemblyOf(spied) ?? ''));
    const degraded = inDrill.filter(({ event: spied }) => spied.type === 'monitor.degraded');
    const recovered = inDrill.filter(({ event: spied }) => spied.type === 'monitor.recovered');
    const describe = (events: SpiedEvent[]) => events.map(({ event: spied }) => JSON.stringify(spied.data)).join(' ') || '-';
    print(`4. lag drill        monitor stopped ${settings.pauseMs} ms, then watched ${fixed((Date.now() - drillStarted - settings.pauseMs) / 1_000)} s (at least ${LAG_DRILL_AFTER_MS / 1_000} s, then until it caught up)`);
    print(`   false failures   ${falseInDrill.length}`);
    for (const line of explain(falseInDrill.slice(0, 10))) print(line);
    print(`   degraded         ${degraded.length}: ${describe(degraded)}`);
    print(`   recovered        ${recovered.length}: ${describe(recovered)}`);

    const falseTotal = falseInDetection.length + falseInSoak.length + falseInDrill.length;
    print(
      `summary: p99 end to end +${fixed(overall.p99)} ms (goal ≤ +100), false positives ${falseTotal} (goal 0), lag drill ${degraded.length} degraded / ${recovered.length} recovered (goal 1/1); load ${fixed(loadAtStart, 2)} → ${fixed(loadavg()[0] ?? 0, 2)}`,
    );
  } finally {
    if (monitorOutput.length > 0) print(`the monitor logged ${monitorOutput.length} warnings or errors; the last:\n${monitorOutput.slice(-20).join('\n').slice(0, 8_000)}`);
    await tearDown();
  }
}

const deadline = setTimeout(
  () => {
    process.stderr.write('bench: gave up (overall time limit)\n');
    process.exit(1);
  },
  (settings.soakSeconds + 600) * 1_000,
);
deadline.unref();
await run();
clearTimeout(deadline);
