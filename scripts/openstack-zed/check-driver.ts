/**
 * Runs Defib's OpenStack driver against a real OpenStack (the Zed that setup.sh installs, or any
 * other): checkAccess, offerings, launch, describe until ACTIVE, list, reboot, stop, start and
 * terminate, printing each step's result and how long it took. A developer tool: nothing in CI
 * runs it.
 *
 *   node scripts/openstack-zed/check-driver.ts [endpoint-file]
 *
 * The endpoint file (default $DEFIB_ZED_ENDPOINT_FILE, else /var/lib/defib-zed/endpoint.txt) holds
 * `key=value` lines: authUrl, user, password, project, domain, region, and optionally network,
 * image and flavors (the first is used). OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME,
 * OS_USER_DOMAIN_NAME and OS_REGION_NAME override them. Exits 1 at the first step that fails.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { openstackRegistrationSchema } from '../../packages/contracts/src/cloud.ts';
import { processEnvironment } from '../../packages/platform/src/config.ts';
import { createCloudCaller } from '../../packages/clouds/src/driver/cloud-call.ts';
import type { CloudDriver, CloudInstance, InstanceState } from '../../packages/clouds/src/driver/cloud-driver.ts';
import { CloudLimiter } from '../../packages/clouds/src/driver/cloud-limiter.ts';
import { createOpenstackDriver } from '../../packages/clouds/src/openstack/openstack-driver.ts';

const environment = processEnvironment();
const file = process.argv[2] ?? environment.DEFIB_ZED_ENDPOINT_FILE ?? '/var/lib/defib-zed/endpoint.txt';

/** The `key=value` lines of the endpoint file; `#` comments skipped. */
function readEndpointFile(path: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined && !line.trimStart().startsWith('#')) settings[match[1]] = match[2];
  }
  return settings;
}

const settings = readEndpointFile(file);
const setting = (key: string, variable: string, fallback?: string): string => {
  const value = environment[variable] ?? settings[key] ?? fallback;
  if (value === undefined) throw new Error(`${file} has no ${key} (nor is ${variable} set)`);
  return value;
};

const registration = openstackRegistrationSchema.parse({
  provider: 'openstack',
  authUrl: setting('authUrl', 'OS_AUTH_URL'),
  region: setting('region', 'OS_REGION_NAME', 'RegionOne'),
  credentials: {
    username: setting('user', 'OS_USERNAME'),
    password: setting('password', 'OS_PASSWORD'),
    project: setting('project', 'OS_PROJECT_NAME'),
    domain: setting('domain', 'OS_USER_DOMAIN_NAME', 'Default'),
  },
  ...(settings.network === undefined ? {} : { network: settings.network }),
});
const image = settings.image ?? 'cirros';
const flavor = settings.flavors?.split(',')[0] ?? 'm1.tiny';

const cloud = 'zed';
const caller = createCloudCaller({ cloud, limiter: new CloudLimiter({ requestsPerSecond: 20, concurrency: 4 }), policy: { attemptTimeoutMs: 30_000, budgetMs: 120_000 } });
const driver: CloudDriver = createOpenstackDriver({ cloud, registration, caller, pageSize: 50 });

async function step<T>(name: string, run: () => Promise<T>, show: (result: T) => string = () => 'ok'): Promise<T> {
  const startedAt = performance.now();
  try {
    const result = await run();
    console.log(`${name.padEnd(28)} ${String(Math.round(performance.now() - startedAt)).padStart(6)} ms  ${show(result)}`);
    return result;
  } catch (error) {
    console.log(`${name.padEnd(28)} ${String(Math.round(performance.now() - startedAt)).padStart(6)} ms  FAILED: ${error instanceof Error ? error.message : String(error)}`);
    clearInterval(keepAlive);
    process.exit(1);
  }
}

/** Runs a step that must fail with a CloudError of `kind`, printing its message. */
async function refused(name: string, kind: string, run: () => Promise<unknown>): Promise<void> {
  await step(name, async () => {
    try {
      await run();
    } catch (error) {
      const found = (error as { kind?: string }).kind;
      if (found !== kind) throw new Error(`expected a ${kind} error, got ${found ?? 'another error'}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      return `${kind}: ${(error as Error).message}`;
    }
    throw new Error(`expected a ${kind} error, but it succeeded`);
  }, (result) => result);
}

/** A driver for the same cloud with one thing of the registration changed. */
function driverWith(change: { password?: string; region?: string; network?: string }): CloudDriver {
  const changed = openstackRegistrationSchema.parse({
    ...registration,
    ...(change.region === undefined ? {} : { region: change.region }),
    ...(change.network === undefined ? {} : { network: change.network }),
    credentials: { ...registration.credentials, ...(change.password === undefined ? {} : { password: change.password }) },
  });
  return createOpenstackDriver({ cloud, registration: changed, caller, pageSize: 50 });
}

const brief = (instance: CloudInstance): string =>
  `${instance.id} ${instance.state} (${instance.cloudStatus}) ${instance.addresses.map((address) => `${address.type}:${address.address}@${address.network ?? '?'}`).join(' ') || 'no addresses'}${instance.zone ? ` zone=${instance.zone}` : ''}`;

/** Describes the server until it reaches `state`, polling every half second for at most `timeoutMs`. */
async function until(id: string, state: InstanceState, timeoutMs = 120_000): Promise<CloudInstance> {
  const deadline = Date.now() + timeoutMs;
  const seen: string[] = [];
  for (;;) {
    const instance = await driver.describe(id);
    if (seen.at(-1) !== instance.cloudStatus) seen.push(instance.cloudStatus);
    if (instance.state === state) {
      console.log(`${''.padEnd(28)}           went through ${seen.join(' → ')}`);
      return instance;
    }
    if (instance.state === 'error') throw new Error(`server ${id} went to ERROR (${seen.join(' → ')})`);
    if (Date.now() > deadline) throw new Error(`server ${id} is still ${instance.cloudStatus} after ${timeoutMs} ms (${seen.join(' → ')})`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

// The driver's clock schedules on unref'd timers (a service's other handles keep it alive); a script needs one of its own.
const keepAlive = setInterval(() => undefined, 1_000);
console.log(`driver against ${registration.authUrl} (region ${registration.region}, image ${image}, flavor ${flavor}, network ${registration.network ?? '(default)'})`);
await step('checkAccess', () => driver.checkAccess());
await step('offerings', () => driver.offerings(), (offerings) => `images [${offerings.images.join(', ')}] flavors [${offerings.flavors.join(', ')}] networks [${(offerings.networks ?? []).join(', ')}]`);
const actionId = randomUUID();
const request = { actionId, name: `defib-check-${actionId.slice(0, 8)}`, image, flavor, userData: '#cloud-config\n', metadata: { 'defib-check': 'true' } };
const launched = await step('launch', () => driver.launch(request), brief);
await step('launch again (same action)', () => driver.launch(request), (instance) => (instance.id === launched.id ? `same server ${instance.id}` : `A SECOND SERVER ${instance.id}`));
await step('describe until ACTIVE', () => until(launched.id, 'running'), brief);
await step('list', () => driver.list(), (instances) => `${instances.length} Defib server(s), this one ${instances.some((instance) => instance.id === launched.id) ? 'listed' : 'MISSING'}`);
await step('list changes-since', () => driver.list({ changesSince: new Date(Date.now() - 600_000).toISOString() }), (instances) => `${instances.length} server(s) changed in the last 10 minutes`);
await step('reboot soft', () => driver.reboot(launched.id, { hard: false }));
await step('describe until ACTIVE', () => until(launched.id, 'running'), brief);
await step('reboot hard', () => driver.reboot(launched.id, { hard: true }));
await step('describe until ACTIVE', () => until(launched.id, 'running'), brief);
await step('stop', () => driver.stop(launched.id));
await step('describe until SHUTOFF', () => until(launched.id, 'stopped'), brief);
await step('start', () => driver.start(launched.id));
await step('describe until ACTIVE', () => until(launched.id, 'running'), brief);
await step('terminate', () => driver.terminate(launched.id));
await step('describe until gone', async () => {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const instance = await driver.describe(launched.id);
      if (instance.state === 'terminated') return `shown as ${instance.cloudStatus}`;
    } catch (error) {
      if ((error as { kind?: string }).kind === 'not-found') return `not-found: ${(error as Error).message}`;
      throw error;
    }
    if (Date.now() > deadline) throw new Error('still there after 120 s');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}, (result) => result);
await step('terminate again', () => driver.terminate(launched.id));
const conflicted = await step('launch for a conflict', () => driver.launch({ ...request, actionId: randomUUID() }), brief);
await step('describe until ACTIVE', () => until(conflicted.id, 'running'), brief);
await refused('start a running server', 'conflict', () => driver.start(conflicted.id));
await step('terminate', () => driver.terminate(conflicted.id));

console.log('error paths');
await refused('wrong password', 'auth', () => driverWith({ password: 'not-the-password' }).checkAccess());
await refused('unknown region', 'rejected', () => driverWith({ region: 'RegionNowhere' }).checkAccess());
await refused('describe unknown server', 'not-found', () => driver.describe(randomUUID()));
await refused('launch unknown image', 'not-found', () => driver.launch({ ...request, actionId: randomUUID(), image: 'no-such-image' }));
await refused('launch unknown flavor', 'not-found', () => driver.launch({ ...request, actionId: randomUUID(), flavor: 'no-such-flavor' }));
await refused('launch unknown network', 'not-found', () => driverWith({ network: 'no-such-network' }).launch({ ...request, actionId: randomUUID() }));
await refused('reboot a deleted server', 'not-found', () => driver.reboot(launched.id, { hard: false }));
clearInterval(keepAlive);
