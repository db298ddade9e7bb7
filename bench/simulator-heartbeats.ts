/**
 * How many heartbeating VMs one simulator process carries: 10,000 VMs whose agents beat every
 * second to the local RabbitMQ, counted by a consumer in a child process.
 *
 *   node bench/simulator-heartbeats.ts [--vms 10000] [--seconds 30] [--warmup 8] [--connections 2] [--interval 1000] [--no-coalesce] [--prefetch 500] [--plain-consumer]
 *
 * Prints the simulator's CPU as a fraction of one core and its RSS over the measuring window
 * (after a warm-up), heartbeats published and received per second against the expected rate, and
 * heartbeat lateness: sentAt − scheduled (the simulator's own timing) and received − scheduled
 * (what a monitor sees). A beat's scheduled time follows from its agent's drift-free schedule
 * (slot n at `nextBeatAt + (n − sequence − 1) × interval`, from the agent snapshot). Goal: at most
 * one core, p99 lateness under 50 ms. Uses AMQP_URL or the local default; its bus prefix is
 * unique and its exchange and queues are deleted at the end.
 *
 * Heartbeats are signed (HMAC-SHA256 with each VM's key, derived from a random agent secret) and
 * the consumer is the platform's AgentChannel, which parses, verifies and replay-checks every beat
 * as a monitor would; the bench also times the hot path alone (encode and sign, verify, parse) per
 * heartbeat, in this process, before the run.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { deriveAgentKey, encodeAgentKey, parseHeartbeat, signAgentJson, verifyAgentMessage } from '@defib/contracts';
import type { Heartbeat } from '@defib/contracts';
import { AgentChannel, busNames, busTopology, createLogger, deleteBusObjects, openBrokerConnection, processEnvironment } from '@defib/platform';
import { AmqpAgentNetwork, createSimulator, HeartbeatEncoder, newResource, type AgentLink, type AgentNetwork } from '@defib/simulator';

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
  rejected: number;
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

/** The consumer: a separate process, so its CPU is not the simulator's; the AgentChannel a monitor would use. */
/** What the consumer reads of a beat. */
type BeatTiming = Pick<Heartbeat, 'instanceId' | 'bootId' | 'sequence' | 'sentAt'>;

/**
 * Where the consumer's heartbeats come from: the AgentChannel, or (`--plain-consumer`) a bare
 * noAck queue that only parses JSON, as the bench did before beats were signed, to tell the
 * simulator's own cost from the receiver's.
 */
async function heartbeatSource(prefix: string, agentSecret: Buffer, options: { prefetch: number | undefined; plain: boolean }, onBeat: (beat: BeatTiming) => void): Promise<{ rejected(): number; close(): Promise<void> }> {
  if (options.plain) {
    const connection = await openBrokerConnection(AMQP_URL, { connectionName: 'bench-heartbeat-consumer' });
    const channel = await connection.createChannel();
    const exchange = busNames(prefix).agentsExchange;
    await channel.assertExchange(exchange, 'topic', { durable: true });
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await channel.bindQueue(queue, exchange, 'heartbeat.#');
    await channel.consume(queue, (message) => message !== null && onBeat(JSON.parse(message.content.toString('utf8')) as BeatTiming), { noAck: true });
    return { rejected: () => 0, close: () => connection.close() };
  }
  const channel = new AgentChannel({
    url: AMQP_URL,
    prefix,
    consumer: 'bench',
    connectionName: 'bench-heartbeat-consumer',
    logger: createLogger({ service: 'bench', level: 'warn' }),
    agentSecret,
    ...(options.prefetch === undefined ? {} : { prefetch: options.prefetch }),
  });
  channel.onHeartbeat(onBeat);
  await channel.start();
  return { rejected: () => Object.values(channel.rejections).reduce((sum, count) => sum + count, 0), close: () => channel.close() };
}

async function consume(prefix: string, agentSecret: Buffer, options: { prefetch: number | undefined; plain: boolean }): Promise<void> {
  const send = (message: FromConsumer) => process.send?.(message);
  let measuring = false;
  let received = 0;
  let startedAt = 0;
  let cpuAtStart = process.cpuUsage();
  let rejectedAtStart = 0;
  let intervalMs = 1_000;
  const anchors = new Map<string, { bootId: string; slot: number; dueAt: number }>();
  const receiveLateness = new Samples();
  const sendLateness = new Samples();
  const source = await heartbeatSource(prefix, agentSecret, options, (beat) => {
    if (!measuring) return;
    const now = Date.now();
    received++;
    const anchor = anchors.get(beat.instanceId);
    if (anchor?.bootId !== beat.bootId) return;
    const due = anchor.dueAt + (beat.sequence - anchor.slot) * intervalMs;
    receiveLateness.push(now - due);
    sendLateness.push(beat.sentAt - due);
  });
  process.on('message', (message: ToConsumer) => {
    if (message.type === 'start') {
      intervalMs = message.intervalMs;
      for (const [instanceId, bootId, slot, dueAt] of message.anchors) anchors.set(instanceId, { bootId, slot, dueAt });
      received = 0;
      startedAt = Date.now();
      cpuAtStart = process.cpuUsage();
      rejectedAtStart = source.rejected();
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
      rejected: source.rejected() - rejectedAtStart,
    };
    send({ type: 'stats', stats });
    void source.close().finally(() => process.exit(0));
  });
  // Never outlive the bench.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

/**
 * The heartbeat hot path alone, per beat in microseconds of CPU: the agent's encode and sign, the
 * receiver's MAC check and its parse with schema validation; and the HMAC's share of the encode.
 */
function timeHotPath(beats = 100_000): { encode: number; sign: number; verify: number; parse: number } {
  const assemblyId = randomUUID();
  const key = deriveAgentKey(randomBytes(32), assemblyId);
  const encoder = new HeartbeatEncoder({ assemblyId, deployableId: randomUUID(), instanceId: randomUUID(), bootId: randomUUID(), intervalMs: 1_000, key });
  encoder.setAddresses([{ network: 'private', address: '10.0.0.5', kind: 'fixed', mac: 'fa:16:3e:00:00:01' }]);
  encoder.setResources([newResource('httpd', undefined, Date.now())]);
  const bodies: Buffer[] = [];
  const micros = (work: (index: number) => void): number => {
    for (let index = 0; index < 5_000; index++) work(index);
    // CPU time rather than wall time: on a shared machine the wall clock counts other processes' turns.
    const started = process.cpuUsage();
    for (let index = 0; index < beats; index++) work(index);
    const used = process.cpuUsage(started);
    return (used.user + used.system) / beats;
  };
  const encode = micros((index) => {
    bodies[index % 1_000] = encoder.encode(index + 1, Date.now());
  });
  const json = bodies[0]?.toString('utf8').replace(/,"mac":"[^"]*"\}$/, '}') ?? '{}';
  const sign = micros(() => signAgentJson(json, key));
  let verified = 0;
  const verify = micros((index) => {
    if (verifyAgentMessage(bodies[index % 1_000] as Buffer, key)) verified++;
  });
  if (verified < beats) throw new Error('a heartbeat failed to verify');
  const parse = micros((index) => parseHeartbeat(bodies[index % 1_000]));
  return { encode, sign, verify, parse };
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
      secret: { type: 'string' },
      prefetch: { type: 'string' },
      'plain-consumer': { type: 'boolean', default: false },
    },
  });
  if (values.consumer !== undefined) return consume(values.consumer, Buffer.from(values.secret ?? '', 'hex'), { prefetch: values.prefetch === undefined ? undefined : Number(values.prefetch), plain: values['plain-consumer'] });

  const vms = Number(values.vms);
  const seconds = Number(values.seconds);
  const warmupSeconds = Number(values.warmup);
  const intervalMs = Number(values.interval);
  const prefix = `bench-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const exchange = busNames(prefix).agentsExchange;
  const agentSecret = randomBytes(32);
  const hotPath = timeHotPath();
  // Whatever happens, the bench ends on its own.
  const deadline = setTimeout(
    () => {
      process.stderr.write('bench: gave up (overall time limit)\n');
      process.exit(1);
    },
    (warmupSeconds + seconds + 120) * 1_000,
  );
  deadline.unref();

  const child = fork(new URL(import.meta.url), ['--consumer', prefix, '--secret', agentSecret.toString('hex'), ...(values.prefetch === undefined ? [] : ['--prefetch', values.prefetch]), ...(values['plain-consumer'] ? ['--plain-consumer'] : [])], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
    const key = encodeAgentKey(deriveAgentKey(agentSecret, assemblyId));
    const config = { protocol: 1, brokerUrl: AMQP_URL, exchange, deployableId, assemblyId, key, assembly: `vm-${i}`, heartbeatIntervalMs: intervalMs, resources: [{ name: 'httpd', monitorIntervalMs: 2_000 }] };
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
  await deleteBusObjects(AMQP_URL, busTopology(prefix, ['bench']));
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
    `  received             ${fixed(stats.received / stats.seconds)} /s (${stats.measured} beats timed), consumer CPU ${fixed(stats.cpu, 3)} of one core (${values['plain-consumer'] ? 'plain: JSON.parse only, no acks' : 'AgentChannel: parse, verify, replay check'}), ${stats.rejected} rejected`,
    `  hot path per beat    encode+sign ${fixed(hotPath.encode, 2)} µs (HMAC ${fixed(hotPath.sign, 2)} µs), verify ${fixed(hotPath.verify, 2)} µs, parse+validate ${fixed(hotPath.parse, 2)} µs`,
    `  broker CPU           ${broker.before === undefined || brokerAfter === undefined ? 'n/a (no local beam.smp)' : `${fixed((brokerAfter - broker.before) / brokerSeconds, 3)} of one core`}`,
    `  lateness sent        ${ms(stats.sendLateness)}   (sentAt − scheduled)`,
    `  lateness received    ${ms(stats.receiveLateness)}   (received − scheduled)`,
    `  goal                 ≤ 1 core and p99 lateness < 50 ms: ${(cpu.user + cpu.system) / 1e6 / elapsed <= 1 && stats.receiveLateness.p99 < 50 ? 'met' : 'MISSED'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await run();
