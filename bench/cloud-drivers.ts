/**
 * The cloud drivers under load, against the simulator in a child process (so this process's CPU
 * and heap are the driver's alone) over real HTTP:
 *
 *   node bench/cloud-drivers.ts [--instances 10000] [--page 1000] [--polls 3] [--launches 500] [--rps 10] [--concurrency 20] [--provider openstack|ec2|both] [--skip-poll] [--skip-launch]
 *
 * 1. **Polling** N instances in one cloud, per provider: the API calls one full `list()` makes
 *    (counted by the simulator as requests arrive) against the floor N / page size, the wall time,
 *    this process's CPU and its heap after the poll.
 * 2. **Launching** `--launches` VMs at once through one cloud's limiter set at `--concurrency`
 *    concurrent / `--rps` per second (OpenStack: each launch looks for its action's server, then
 *    creates): every request's start time is taken where it leaves the driver (its fetch), and the
 *    bench prints the most requests started in any one-second window (must not exceed the rate),
 *    the most under way at once (must not exceed the concurrency), and the total time as a ratio
 *    to the limit's floor, (requests − 1) / rate (goal ≤ 1.1).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { CloudLimiter, createCloudCaller, createEc2Driver, createOpenstackDriver, managedMetadataKey, type CloudDriver } from '@defib/clouds';
import type { CloudRegistration } from '@defib/contracts';
import { createSimulator } from '@defib/simulator';

const { values: args } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    instances: { type: 'string', default: '10000' },
    page: { type: 'string', default: '1000' },
    polls: { type: 'string', default: '3' },
    launches: { type: 'string', default: '500' },
    rps: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '20' },
    provider: { type: 'string', default: 'both' },
    'skip-poll': { type: 'boolean', default: false },
    'skip-launch': { type: 'boolean', default: false },
  },
});

type Provider = 'openstack' | 'ec2';
type ToSimulator = { type: 'count'; reset: boolean };
type FromSimulator = { type: 'ready'; url: string } | { type: 'count'; requests: number };

/** The child: a simulator with `instances` Defib-launched VMs in each cloud, counting requests. */
async function serve(instances: number): Promise<void> {
  const simulator = createSimulator({
    speedFactor: 1_000,
    clouds: [
      { name: 'sim-openstack', provider: 'openstack' },
      { name: 'sim-ec2', provider: 'ec2' },
    ],
  });
  for (const cloud of simulator.clouds.values()) {
    const image = cloud.findImage('fedora-40');
    const flavor = cloud.findFlavor('m1.small');
    if (!image || !flavor) throw new Error(`cloud ${cloud.config.name} lacks fedora-40 or m1.small`);
    for (let index = 0; index < instances; index++) {
      cloud.create({
        name: `bench-${index}`,
        imageId: image.id,
        flavorId: flavor.id,
        metadata: { [managedMetadataKey]: 'true', 'defib-action': randomUUID() },
        tags: [{ key: 'defib', value: '' }, { key: managedMetadataKey, value: 'true' }],
      });
    }
  }
  let requests = 0;
  const server = createServer((request, response) => {
    requests++;
    simulator.app(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  process.on('message', (message: ToSimulator) => {
    process.send?.({ type: 'count', requests } satisfies FromSimulator);
    if (message.reset) requests = 0;
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${address.port}` } satisfies FromSimulator);
}

function ask(child: ChildProcess, message: ToSimulator): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (reply: FromSimulator) => resolve(reply.type === 'count' ? reply.requests : -1));
    child.send(message);
  });
}

function registration(provider: Provider, url: string, limits: { requestsPerSecond: number; concurrency: number }): CloudRegistration {
  return provider === 'openstack'
    ? { provider, authUrl: `${url}/identity/v3`, region: 'RegionOne', interface: 'public', credentials: { username: 'admin', password: 'secret', project: 'admin', domain: 'Default' }, limits }
    : { provider, endpoint: `${url}/ec2/`, region: 'us-east-1', credentials: { accessKeyId: 'AKIABENCHMARK0000', secretAccessKey: 'bench-secret' }, limits };
}

/** A driver with its own limiter; `fetch` sees every OpenStack request as it leaves. */
function driverFor(provider: Provider, url: string, limits: { requestsPerSecond: number; concurrency: number }, options: { pageSize?: number; fetch?: typeof fetch } = {}): CloudDriver {
  const cloud = `sim-${provider}`;
  const caller = createCloudCaller({ cloud, limiter: new CloudLimiter(limits) });
  const reg = registration(provider, url, limits);
  if (reg.provider === 'openstack') return createOpenstackDriver({ cloud, registration: reg, caller, ...options });
  return createEc2Driver({ cloud, registration: reg, caller, ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }) });
}

const load = () => loadavg()[0]?.toFixed(2) ?? '?';
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function benchPoll(child: ChildProcess, url: string, provider: Provider, instances: number, pageSize: number, polls: number): Promise<void> {
  const driver = driverFor(provider, url, { requestsPerSecond: 10_000, concurrency: 50 }, { pageSize });
  const warm = await driver.list();
  if (warm.length !== instances) throw new Error(`${provider}: listed ${warm.length} of ${instances}`);
  // EC2 reads two paged lists (DescribeInstances and DescribeInstanceStatus); OpenStack one.
  const floor = Math.ceil(instances / pageSize) * (provider === 'ec2' ? 2 : 1);
  for (let poll = 1; poll <= polls; poll++) {
    await ask(child, { type: 'count', reset: true });
    const cpu = process.cpuUsage();
    const started = performance.now();
    const listed = await driver.list();
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const calls = await ask(child, { type: 'count', reset: true });
    console.log(
      `poll ${provider} #${poll}: ${listed.length} instances in ${calls} API calls (floor ${floor}, ratio ${(calls / floor).toFixed(2)}), ` +
        `${wallMs.toFixed(0)} ms wall, ${((used.user + used.system) / 1000).toFixed(0)} ms CPU (${((used.user + used.system) / 1000 / wallMs).toFixed(2)} core), heap ${mb(process.memoryUsage().heapUsed)} MB; load ${load()}`,
    );
  }
}

async function benchLaunch(url: string, launches: number, limits: { requestsPerSecond: number; concurrency: number }): Promise<void> {
  const starts: number[] = [];
  let underWay = 0;
  let mostUnderWay = 0;
  const counting: typeof fetch = async (input, init) => {
    starts.push(performance.now());
    mostUnderWay = Math.max(mostUnderWay, ++underWay);
    try {
      return await fetch(input, init);
    } finally {
      underWay--;
    }
  };
  const driver = driverFor('openstack', url, limits, { fetch: counting });
  const began = performance.now();
  const launched = await Promise.all(
    Array.from({ length: launches }, (_, index) => driver.launch({ actionId: randomUUID(), name: `launch-${index}`, image: 'fedora-40', flavor: 'm1.small', network: 'auto' })),
  );
  const totalMs = performance.now() - began;
  const ids = new Set(launched.map((instance) => instance.id));
  let busiestSecond = 0;
  for (let i = 0, j = 0; i < starts.length; i++) {
    while ((starts[j] ?? Number.POSITIVE_INFINITY) < (starts[i] ?? 0) - 999.999) j++;
    busiestSecond = Math.max(busiestSecond, i - j + 1);
  }
  const floorMs = ((starts.length - 1) / limits.requestsPerSecond) * 1_000;
  console.log(
    `launch openstack: ${ids.size}/${launches} VMs, ${starts.length} requests in ${(totalMs / 1000).toFixed(1)} s; ` +
      `busiest second ${busiestSecond} requests (limit ${limits.requestsPerSecond}), most under way ${mostUnderWay} (limit ${limits.concurrency}); ` +
      `time / floor ${(totalMs / floorMs).toFixed(3)} (floor ${(floorMs / 1000).toFixed(1)} s); load ${load()}`,
  );
}

async function main(): Promise<void> {
  const instances = Number(args.instances);
  if (args.serve) return serve(instances);
  const child = fork(new URL(import.meta.url).pathname, ['--serve', '--instances', args['skip-poll'] ? '0' : String(instances)], { stdio: 'inherit' });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message: FromSimulator) => (message.type === 'ready' ? resolve(message.url) : reject(new Error('unexpected message'))));
    child.once('exit', (code) => reject(new Error(`simulator exited (${code})`)));
  });
  try {
    const providers: Provider[] = args.provider === 'both' ? ['openstack', 'ec2'] : [args.provider as Provider];
    if (!args['skip-poll']) for (const provider of providers) await benchPoll(child, url, provider, instances, Number(args.page), Number(args.polls));
    if (!args['skip-launch']) await benchLaunch(url, Number(args.launches), { requestsPerSecond: Number(args.rps), concurrency: Number(args.concurrency) });
  } finally {
    child.kill();
  }
}

await main();
