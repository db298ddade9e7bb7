/**
 * How many heartbeating VMs one simulator process carries: 10,000 VMs whose agents beat every
 * second to the local RabbitMQ, counted by a consumer in a child process.
 *
 *   node bench/simulator-heartbeats.ts [--vms 10000] [--seconds 30] [--warmup 8] [--connections 2] [--interval 1000] [--no-coalesce]
 *
 * Prints the simulator's CPU as a fraction of one core and its RSS over the measuring window
 * (after a warm-up), heartbeats published and received per second against the expected rate, and
 * heartbeat lateness: sentAt − scheduled (the simulator's own timing) and received − scheduled
 * (what a monitor sees). A beat's scheduled time follows from its agent's drift-free schedule
 * (slot n at `nextBeatAt + (n − sequence − 1) × interval`, from the agent snapshot). Goal: at most
 * one core, p99 lateness under 50 ms. Uses AMQP_URL or the local default; its exchange has a unique
 * name and is deleted at the end.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLogger } from '../packages/platform/src/logger.ts';
import { processEnvironment } from '../packages/platform/src/config.ts';
import type { AgentLink, AgentNetwork } from '../simulator/src/agents/agent-network.ts';
import { AmqpAgentNetwork, connectAgentBroker } from '../simulator/src/agents/amqp-agent-network.ts';
import { createSimulator } from '../simulator/src/simulator.ts';

const LOOP_RESOLUTION_MS = 10;
/** The event-loop histogram records whole sampling periods; what matters is the excess. */
const beyondSampling = (nanoseconds: number) => Math.max(0, nanoseconds / 1e6 - LOOP_RESOLUTION_MS);
const AMQP_URL = processEnvironment().AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Child → parent and parent → child messages. */
type ToConsumer = { type: 'start'; intervalMs: number; anchors: [instanceId: string, bootId: string, slot: number, dueAt: number][] } | { type: 'stop' };
type FromConsumer = { type: 'ready' } | { type: 'stats'; stats: ConsumerStats };

interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}
interface ConsumerStats {
  received: number;
  seconds: number;
  measured: number;
  receiveLateness: Percentiles;
  sendLateness: Percentiles;
  cpu: number;
}

function percentiles(values: Float64Array): Percentiles {
  if (values.length === 0) return { p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = values.slice().sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** A growable list of numbers without boxing. */
class Samples {
  #values = new Float64Array(1 << 16);
  #length = 0;
  push(value: number): void {
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = value;
  }
  values(): Float64Array {
    return this.#values.subarray(0, this.#length);
  }
}

/** The consumer: a separate process, so its CPU is not the simulator's. */
async function consume(exchange: string): Promise<void> {
  const send = (message: FromConsumer) => process.send?.(message);
  const connection = await connectAgentBroker(AMQP_URL, { connectionName: 'bench-heartbeat-consumer' });
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
  await channel.bindQueue(queue, exchange, 'heartbeat.#');
  let measuring = false;
  let received = 0;
  let startedAt = 0;
  let cpuAtStart = process.cpuUsage();
  let intervalMs = 1_000;
  const anchors = new Map<string, { bootId: string; slot: number; dueAt: number }>();
  const receiveLateness = new Samples();
  const sendLateness = new Samples();
  await channel.consume(
    queue,
    (message) => {
      if (message === null || !measuring) return;
      const now = Date.now();
      received++;
      const beat = JSON.parse(message.content.toString('utf8')) as { instanceId: string; bootId: string; sequence: number; sentAt: number };
      const anchor = anchors.get(beat.instanceId);
      if (anchor?.bootId !== beat.bootId) return;
      const due = anchor.dueAt + (beat.sequence - anchor.slot) * intervalMs;
      receiveLateness.push(now - due);
      sendLateness.push(beat.sentAt - due);
    },
    { noAck: true },
  );
  process.on('message', (message: ToConsumer) => {
    if (message.type === 'start') {
      intervalMs = message.intervalMs;
      for (const [instanceId, bootId, slot, dueAt] of message.anchors) anchors.set(instanceId, { bootId, slot, dueAt });
      received = 0;
      startedAt = Date.now();
      cpuAtStart = process.cpuUsage();
      measuring = true;
      return;
    }
    measuring = false;
    const seconds = (Date.now() - startedAt) / 1_000;
    const cpu = process.cpuUsage(cpuAtStart);
    const stats: ConsumerStats = {
      received,
      seconds,
      measured: receiveLateness.values().length,
      receiveLateness: percentiles(receiveLateness.values()),
      sendLateness: percentiles(sendLateness.values()),
      cpu: (cpu.user + cpu.system) / 1e6 / seconds,
    };
    send({ type: 'stats', stats });
    void connection.close().finally(() => process.exit(0));
  });
  // Never outlive the bench.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

/** Counts what the agents hand to the broker and what they drop. */
function counting(network: AgentNetwork): AgentNetwork & { published: number; dropped: number } {
  const counted = {
    published: 0,
    dropped: 0,
    link(brokerUrl: string): AgentLink {
      const link = network.link(brokerUrl);
      return {
        publish(exchange, routingKey, body) {
          const sent = link.publish(exchange, routingKey, body);
          if (sent) counted.published++;
          else counted.dropped++;
          return sent;
        },
        listenForCommands: (exchange, assemblyId, deliver) => link.listenForCommands(exchange, assemblyId, deliver),
      };
    },
    beginBatch: () => network.beginBatch?.(),
    endBatch: () => network.endBatch?.(),
    close: () => network.close(),
  };
  return counted;
}

function waitForMessage<T extends FromConsumer['type']>(child: ChildProcess, type: T): Promise<Extract<FromConsumer, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromConsumer) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      resolve(message as Extract<FromConsumer, { type: T }>);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`consumer exited with ${code}`)));
  });
}

/** CPU seconds used so far by a local RabbitMQ (beam.smp), when this machine runs it and /proc shows it. */
async function brokerCpuSeconds(): Promise<number | undefined> {
  const { readdir, readFile } = await import('node:fs/promises');
  try {
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
      if (comm.trim() !== 'beam.smp') continue;
      const fields = (await readFile(`/proc/${entry}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
      // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
      return (Number(fields[11]) + Number(fields[12])) / 100;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vms: { type: 'string', default: '10000' },
      seconds: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '8' },
      connections: { type: 'string', default: '2' },
      interval: { type: 'string', default: '1000' },
      'no-coalesce': { type: 'boolean', default: false },
      consumer: { type: 'string' },
    },
  });
  if (values.consumer !== undefined) return consume(values.consumer);

  const vms = Number(values.vms);
  const seconds = Number(values.seconds);
  const warmupSeconds = Number(values.warmup);
  const intervalMs = Number(values.interval);
  const exchange = `bench-${Date.now().toString(36)}${randomBytes(3).toString('hex')}.agents`;
  // Whatever happens, the bench ends on its own.
  const deadline = setTimeout(
    () => {
      process.stderr.write('bench: gave up (overall time limit)\n');
      process.exit(1);
    },
    (warmupSeconds + seconds + 120) * 1_000,
  );
  deadline.unref();

  const child = fork(new URL(import.meta.url), ['--consumer', exchange], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await waitForMessage(child, 'ready');

  const network = counting(
    new AmqpAgentNetwork({ logger: createLogger({ service: 'bench', level: 'warn' }), connectionsPerBroker: Number(values.connections), coalesceWrites: !values['no-coalesce'] }),
  );
  const simulator = createSimulator({
    seed: 'bench',
    clouds: [{ name: 'bench', provider: 'openstack', timings: { build: 2_000, jitter: 0.2 }, zones: [{ name: 'nova', hosts: Array.from({ length: 50 }, (_, i) => `compute-${i + 1}`) }] }],
    agents: { network },
  });
  await simulator.start(0);
  const cloud = simulator.clouds.get('bench');
  if (!cloud) throw new Error('no cloud');
  const imageId = cloud.images[0]?.id ?? '';
  const deployableId = randomUUID();
  const launchStarted = Date.now();
  for (let i = 0; i < vms; i++) {
    const assemblyId = randomUUID();
    const config = { protocol: 1, brokerUrl: AMQP_URL, exchange, deployableId, assemblyId, assembly: `vm-${i}`, heartbeatIntervalMs: intervalMs, resources: [{ name: 'httpd', monitorIntervalMs: 2_000 }] };
    cloud.create({ name: `vm-${i}`, imageId, flavorId: '1', userData: Buffer.from(JSON.stringify(config)).toString('base64') });
  }
  process.stdout.write(`created ${vms} VMs in ${Date.now() - launchStarted} ms; warming up ${warmupSeconds} s\n`);
  await sleep(warmupSeconds * 1_000);
  if (simulator.agents.runningCount !== vms) process.stdout.write(`warning: only ${simulator.agents.runningCount} of ${vms} agents running after the warm-up\n`);

  const anchors: [string, string, number, number][] = [];
  for (const snapshot of simulator.agents.snapshots()) {
    if (snapshot.nextBeatAt != null) anchors.push([snapshot.vmId, snapshot.bootId, snapshot.sequence + 1, snapshot.nextBeatAt]);
  }
  const loadBefore = loadavg()[0] ?? 0;
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  child.send({ type: 'start', intervalMs, anchors } satisfies ToConsumer);
  const broker = { before: await brokerCpuSeconds(), at: Date.now() };
  const publishedBefore = network.published;
  const droppedBefore = network.dropped;
  const cpuBefore = process.cpuUsage();
  const startedAt = Date.now();
  loopDelay.enable();
  let peakRss = 0;
  for (let second = 0; second < seconds; second++) {
    await sleep(1_000);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  loopDelay.disable();
  const elapsed = (Date.now() - startedAt) / 1_000;
  const cpu = process.cpuUsage(cpuBefore);
  const published = network.published - publishedBefore;
  const dropped = network.dropped - droppedBefore;
  const brokerAfter = await brokerCpuSeconds();
  const brokerSeconds = (Date.now() - broker.at) / 1_000;
  const statsArriving = waitForMessage(child, 'stats');
  child.send({ type: 'stop' } satisfies ToConsumer);
  const { stats } = await statsArriving;
  const memory = process.memoryUsage();

  await simulator.stop();
  const cleaner = await connectAgentBroker(AMQP_URL, { connectionName: 'bench-cleanup' });
  const channel = await cleaner.createChannel();
  await channel.deleteExchange(exchange);
  await cleaner.close();
  clearTimeout(deadline);

  const expected = vms / (intervalMs / 1_000);
  const ms = (p: Percentiles) => `p50 ${fixed(p.p50)} ms, p99 ${fixed(p.p99)} ms, max ${fixed(p.max)} ms`;
  const lines = [
    `simulator heartbeats: ${vms} VMs beating every ${intervalMs} ms, ${values.connections} broker connection(s), writes ${values['no-coalesce'] ? 'not ' : ''}coalesced; ${fixed(elapsed)} s measured after ${warmupSeconds} s warm-up`,
    `  machine load         ${fixed(loadBefore, 2)} → ${fixed(loadavg()[0] ?? 0, 2)} (1-minute load average; above ~2 the two cores were shared with other work)`,
    `  simulator CPU        ${fixed((cpu.user + cpu.system) / 1e6 / elapsed, 3)} of one core (user ${fixed(cpu.user / 1e6 / elapsed, 3)}, system ${fixed(cpu.system / 1e6 / elapsed, 3)})`,
    `  simulator RSS        ${fixed(memory.rss / 2 ** 20)} MiB (peak ${fixed(peakRss / 2 ** 20)} MiB), heap used ${fixed(memory.heapUsed / 2 ** 20)} MiB`,
    `  event-loop delay     p50 ${fixed(beyondSampling(loopDelay.percentile(50)))} ms, p99 ${fixed(beyondSampling(loopDelay.percentile(99)))} ms, max ${fixed(beyondSampling(loopDelay.max))} ms`,
    `  published            ${fixed(published / elapsed)} /s of ${fixed(expected)} /s expected (${fixed((100 * published) / elapsed / expected)} %), dropped ${dropped}`,
    `  received             ${fixed(stats.received / stats.seconds)} /s (${stats.measured} beats timed), consumer CPU ${fixed(stats.cpu, 3)} of one core`,
    `  broker CPU           ${broker.before === undefined || brokerAfter === undefined ? 'n/a (no local beam.smp)' : `${fixed((brokerAfter - broker.before) / brokerSeconds, 3)} of one core`}`,
    `  lateness sent        ${ms(stats.sendLateness)}   (sentAt − scheduled)`,
    `  lateness received    ${ms(stats.receiveLateness)}   (received − scheduled)`,
    `  goal                 ≤ 1 core and p99 lateness < 50 ms: ${(cpu.user + cpu.system) / 1e6 / elapsed <= 1 && stats.receiveLateness.p99 < 50 ? 'met' : 'MISSED'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await run();
