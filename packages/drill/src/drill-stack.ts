/**
 * The processes a drill runs: the simulator and Defib's four services, each its real `main.ts` as
 * a child process (as an operator runs them), on a database and a bus prefix of the drill's own.
 * The stack can kill a service with SIGKILL and start it again (the chaos suite), and `close()`
 * stops every process and removes the database, exchanges and queues it made, whatever happened
 * before — also after Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { busTopology, deleteBusObjects, processEnvironment } from '@defib/platform';
import pg from 'pg';
import type { DrillCloud, DrillService } from './drill-scenario.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** A part of the stack: the simulator or one of Defib's services. */
export type StackPart = DrillService | 'simulator';

/** One running (or stopped) process of a part. */
export interface PartProcess {
  part: StackPart;
  /** 1-based replica number. */
  replica: number;
  /** `monitor#2`. */
  label: string;
  url: string;
  child: ChildProcess;
  /** Starts it again (after a kill), with the same settings; resolves when it listens. */
  restart(): Promise<void>;
}

export interface StackOptions {
  databaseUrl: string;
  amqpUrl: string;
  replicas: Record<'monitor' | 'recovery' | 'notifier', number>;
  clouds: readonly DrillCloud[];
  seed: string;
  /** Each process's output goes to `<logDir>/<part>-<replica>.log`. */
  logDir: string;
  /** Called when a process the drill did not stop exits (a crash, or a kill by the chaos suite). */
  onExit?: (process: PartProcess, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface DrillStack {
  adminToken: string;
  databaseName: string;
  databaseUrl: string;
  busPrefix: string;
  simulatorUrl: string;
  registryUrl: string;
  /** The first live replica's URL. */
  urlOf(part: StackPart): string;
  processes(part?: StackPart): PartProcess[];
  /** SIGKILLs the part's replica (or all its replicas); resolves when they are dead. */
  kill(part: DrillService, replica?: number): Promise<PartProcess[]>;
  /** Closes every broker connection of the drill's services (not the simulated agents'); resolves with how many. */
  closeBrokerConnections(): Promise<number>;
  /** Terminates every connection to the drill's database; resolves with how many. */
  terminateDatabaseConnections(): Promise<number>;
  /** Resolves when every live process answers `/readyz` with 200. */
  ready(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString('hex');
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function adminQuery<T extends pg.QueryResultRow>(databaseUrl: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Services the drill runs, in start order: the registry first (the others fetch cloud credentials from it). */
const SERVICES: readonly DrillService[] = ['registry', 'monitor', 'recovery', 'notifier'];

/** The drill's settings of each part: production defaults except where a drill needs seconds, not minutes. */
function partEnvironment(part: StackPart, replica: number, options: StackOptions): Record<string, string> {
  const replicaId = `drill-${part}-${replica}`;
  switch (part) {
    case 'simulator':
      return { SIM_SEED: options.seed };
    case 'registry':
      return {};
    case 'monitor':
      return { MONITOR_REPLICA_ID: replicaId, MONITOR_BOOT_GRACE: '10s', MONITOR_CLOUD_POLL_INTERVAL: '1s', MONITOR_LEASE: '5s', MONITOR_SHARDS: '8' };
    case 'recovery': {
      const limits = options.clouds.filter((cloud) => cloud.actionLimit !== undefined).map((cloud) => `${cloud.name}=${cloud.actionLimit}`);
      return {
        RECOVERY_REPLICA_ID: replicaId,
        RECOVERY_AGENT_BROKER_URL: options.amqpUrl,
        RECOVERY_LEASE: '5s',
        RECOVERY_BOOT_TIMEOUT: '20s',
        RECOVERY_COMMAND_TIMEOUT: '4s',
        RECOVERY_VERIFY_INTERVAL: '100ms',
        RECOVERY_FENCE_TIMEOUT: '20s',
        RECOVERY_CLOUD_RETRY_BUDGET: '10s',
        RECOVERY_RETRY_BASE: '250ms',
        RECOVERY_RETRY_MAX: '3s',
        ...(limits.length === 0 ? {} : { RECOVERY_CLOUD_ACTIONS_BY_CLOUD: limits.join(',') }),
      };
    }
    case 'notifier':
      return {
        NOTIFIER_ALLOWED_NETWORKS: '127.0.0.0/8',
        NOTIFIER_RETRY_INITIAL_DELAY: '500ms',
        NOTIFIER_RETRY_MULTIPLIER: '1.5',
        NOTIFIER_RETRY_MAX_DELAY: '5s',
        NOTIFIER_POLL_INTERVAL: '200ms',
        NOTIFIER_ATTEMPT_TIMEOUT: '3s',
        NOTIFIER_LEASE: '5s',
      };
  }
}

interface Spawned {
  child: ChildProcess;
  url: string;
}

function spawnPart(part: StackPart, env: Record<string, string>, log: WriteStream, timeoutMs = 30_000): Promise<Spawned> {
  const entry = part === 'simulator' ? join(root, 'simulator', 'src', 'main.ts') : join(root, 'services', part, 'src', 'main.ts');
  const child = spawn(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  return new Promise((resolve, reject) => {
    let listening = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${part} did not start within ${timeoutMs / 1000} s:\n${recent.join('\n')}`));
    }, timeoutMs);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        log.write(`${line}\n`);
        if (listening) return;
        recent.push(line);
        if (recent.length > 20) recent.shift();
        const url = /"msg":"listening"/.test(line) ? /"url":"(http:\/\/[^"]+)"/.exec(line)?.[1] : undefined;
        if (url !== undefined) {
          listening = true;
          clearTimeout(timer);
          resolve({ child, url });
        }
      });
    }
    child.once('exit', (code, signal) => {
      if (listening) return;
      clearTimeout(timer);
      reject(new Error(`${part} exited (${signal ?? `code ${code}`}) before it listened: ${startupReason(recent)}`));
    });
  });
}

/** The part's own words on why it did not start: its fatal log line, else its last lines. */
function startupReason(lines: readonly string[]): string {
  for (const line of [...lines].reverse()) {
    try {
      const record = JSON.parse(line) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
      if (record.level === 'fatal' || record.level === 'error') return typeof record.err?.message === 'string' ? `${String(record.msg)}: ${record.err.message}` : String(record.msg);
    } catch {
      // not a log line
    }
  }
  return lines.slice(-5).join(' / ') || 'it said nothing';
}

/** Starts the simulator and every service; on failure stops what it started and removes what it made. */
export async function startDrillStack(options: StackOptions): Promise<DrillStack> {
  const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const databaseName = `defib_drill_${suffix}`;
  const busPrefix = `drill-${suffix}`;
  const databaseUrl = withDatabase(options.databaseUrl, databaseName);
  const adminToken = randomToken();
  const serviceToken = randomToken();
  const agentSecret = randomBytes(32).toString('base64');
  mkdirSync(options.logDir, { recursive: true });
  const logs: WriteStream[] = [];
  const all: PartProcess[] = [];
  let closing = false;
  let databaseCreated = false;

  const base: Record<string, string> = {
    PATH: processEnvironment().PATH ?? '',
    // No settings file: each process sees exactly what the drill gives it.
    DEFIB_ENV_FILE: '',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    AMQP_URL: options.amqpUrl,
    BUS_PREFIX: busPrefix,
    DEFIB_ADMIN_TOKEN: adminToken,
  };
  // Replicas of one service share its sealing key: they share its tables.
  const secretKeys = Object.fromEntries([...SERVICES, 'simulator'].map((part) => [part, randomBytes(32).toString('base64')]));

  const startPart = async (part: StackPart, replica: number, shared: Record<string, string>): Promise<PartProcess> => {
    const log = createWriteStream(join(options.logDir, `${part}-${replica}.log`));
    logs.push(log);
    const env = {
      ...base,
      ...(part === 'simulator' ? {} : { DEFIB_SECRET_KEY: secretKeys[part] ?? '', DEFIB_AGENT_SECRET: agentSecret, DEFIB_SERVICE_TOKEN: serviceToken, DEFIB_SERVICE_TOKENS: serviceToken }),
      ...shared,
      ...partEnvironment(part, replica, options),
    };
    const spawned = await spawnPart(part, env, log);
    const entry: PartProcess = {
      part,
      replica,
      label: `${part}#${replica}`,
      url: spawned.url,
      child: spawned.child,
      async restart() {
        const again = await spawnPart(part, env, log);
        entry.child = again.child;
        entry.url = again.url;
        watch(entry);
      },
    };
    watch(entry);
    return entry;
  };
  const watch = (entry: PartProcess) => {
    const child = entry.child;
    child.once('exit', (code, signal) => {
      if (!closing && entry.child === child) options.onExit?.(entry, code, signal);
    });
  };

  const stack: DrillStack = {
    adminToken,
    databaseName,
    databaseUrl,
    busPrefix,
    simulatorUrl: '',
    registryUrl: '',
    urlOf(part) {
      const live = all.find((entry) => entry.part === part && entry.child.exitCode === null && entry.child.signalCode === null) ?? all.find((entry) => entry.part === part);
      if (live === undefined) throw new Error(`the drill runs no ${part}`);
      return live.url;
    },
    processes(part) {
      return all.filter((entry) => part === undefined || entry.part === part);
    },
    async kill(part, replica) {
      const struck = all.filter((entry) => entry.part === part && (replica === undefined || entry.replica === replica) && entry.child.exitCode === null && entry.child.signalCode === null);
      await Promise.all(
        struck.map(async (entry) => {
          const exited = once(entry.child, 'exit');
          entry.child.kill('SIGKILL');
          await exited;
        }),
      );
      return struck;
    },
    // Each service's connection names end with its bus prefix; the simulated agents' do not.
    closeBrokerConnections: () => closeTaggedConnections(` ${busPrefix}`),
    async terminateDatabaseConnections() {
      const rows = await adminQuery<{ terminated: boolean }>(options.databaseUrl, 'select pg_terminate_backend(pid) as terminated from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [databaseName]);
      return rows.filter((row) => row.terminated).length;
    },
    async ready(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (const entry of all.filter((candidate) => candidate.child.exitCode === null && candidate.child.signalCode === null)) {
        for (;;) {
          const status = await fetch(`${entry.url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
            (response) => response.status,
            () => 0,
          );
          if (status === 200) break;
          if (Date.now() > deadline) throw new Error(`${entry.label} was not ready within ${timeoutMs / 1000} s (its log: ${join(options.logDir, `${entry.part}-${entry.replica}.log`)})`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    },
    async close() {
      closing = true;
      await Promise.all(
        all.map(async (entry) => {
          if (entry.child.exitCode !== null || entry.child.signalCode !== null) return;
          const exited = once(entry.child, 'exit');
          entry.child.kill('SIGTERM');
          const timer = setTimeout(() => entry.child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }),
      );
      await Promise.all(logs.map((log) => new Promise<void>((resolve) => log.end(resolve))));
      const consumers = [...SERVICES, ...(['monitor', 'recovery'] as const).flatMap((service) => Array.from({ length: options.replicas[service] }, (_, index) => `${service}.drill-${service}-${index + 1}`))];
      await deleteBusObjects(options.amqpUrl, busTopology(busPrefix, consumers)).catch(() => undefined);
      if (databaseCreated) await adminQuery(options.databaseUrl, `drop database if exists ${pg.escapeIdentifier(databaseName)} with (force)`).catch(() => undefined);
    },
  };

  try {
    await adminQuery(options.databaseUrl, `create database ${pg.escapeIdentifier(databaseName)}`);
    databaseCreated = true;
    const [simulator, registry] = await Promise.all([startPart('simulator', 1, {}), startPart('registry', 1, {})]);
    all.push(simulator, registry);
    stack.simulatorUrl = simulator.url;
    stack.registryUrl = registry.url;
    const shared = { DEFIB_REGISTRY_URL: registry.url };
    // The services side by side; a service's further replicas after its first (which migrates its tables).
    const services = ['monitor', 'recovery', 'notifier'] as const;
    all.push(...(await Promise.all(services.map((service) => startPart(service, 1, shared)))));
    for (const service of services) {
      for (let replica = 2; replica <= options.replicas[service]; replica += 1) all.push(await startPart(service, replica, shared));
    }
    return stack;
  } catch (error) {
    await stack.close();
    throw error;
  }
}

/**
 * Closes, through `rabbitmqctl`, every broker connection whose name carries `tag`: the broker ends
 * them as it would on an operator's `close_all_connections`, and only the drill's own are struck.
 */
async function closeTaggedConnections(tag: string): Promise<number> {
  // The table form: `close_connection` takes the pid as it is printed there (not as JSON shows it).
  const listed = await run('rabbitmqctl', ['-q', 'list_connections', '--no-table-headers', 'pid', 'client_properties']);
  const ours = listed
    .split('\n')
    .map((line) => ({ pid: line.split('\t')[0] ?? '', name: /\{"connection_name","([^"]*)"\}/.exec(line)?.[1] }))
    .filter((connection) => connection.pid !== '' && connection.name?.endsWith(tag) === true);
  await Promise.all(ours.map((connection) => run('rabbitmqctl', ['-q', 'close_connection', connection.pid, 'closed by the drill'])));
  return ours.length;
}

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.once('error', (error) => reject(new Error(`${command} could not run: ${error.message}`)));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${err.trim()}`))));
  });
}
