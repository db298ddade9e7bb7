/**
 * A RabbitMQ node of a test's own (the machine's `rabbitmq-server`, its own node name, ports and
 * folder), so a test may stop the broker or close every connection without touching the shared
 * one. It runs as the `rabbitmq` user with that user's Erlang cookie, so it needs root (as CI
 * has) and Debian's RabbitMQ; `rabbitmqAvailable()` says whether both are there.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isPortFree } from './ports.ts';

const run = promisify(execFile);
const BIN = '/usr/lib/rabbitmq/bin';
const RABBITMQ_HOME = '/var/lib/rabbitmq';

export interface ThrowawayRabbitmq {
  /** `amqp://guest:guest@127.0.0.1:<port>` */
  url: string;
  /** Stops the broker application: every connection closed, new ones refused, queues kept. */
  stopApp(): Promise<void>;
  startApp(): Promise<void>;
  /** Closes every client connection, as a broker restart or a network blip would. */
  closeAllConnections(): Promise<void>;
  destroy(): Promise<void>;
}

/** Why a throwaway node cannot be started here, or undefined when it can. */
export function rabbitmqUnavailableReason(): string | undefined {
  if (!existsSync(join(BIN, 'rabbitmq-server'))) return `no RabbitMQ server under ${BIN}`;
  if (process.getuid?.() !== 0) return 'a throwaway RabbitMQ node runs as the rabbitmq user, which needs root';
  if (!existsSync(join(RABBITMQ_HOME, '.erlang.cookie'))) return `no Erlang cookie in ${RABBITMQ_HOME}`;
  return undefined;
}

/** A port whose distribution port (+20000, RabbitMQ's rule) is free too. */
async function freeNodePort(): Promise<number> {
  for (let tries = 0; tries < 50; tries += 1) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if ((await isPortFree(port)) && (await isPortFree(port + 20_000))) return port;
  }
  throw new Error('no free port pair for a RabbitMQ node');
}

export async function startThrowawayRabbitmq(): Promise<ThrowawayRabbitmq> {
  const folder = mkdtempSync(join(tmpdir(), 'defib-mq-'));
  const port = await freeNodePort();
  const node = `defib-test-${randomBytes(4).toString('hex')}@localhost`;
  writeFileSync(join(folder, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${port}\n`);
  writeFileSync(join(folder, 'enabled_plugins'), '[].\n');
  const { stdout: uid } = await run('id', ['-u', 'rabbitmq']);
  const { stdout: gid } = await run('id', ['-g', 'rabbitmq']);
  for (const path of [folder, join(folder, 'rabbitmq.conf'), join(folder, 'enabled_plugins')]) chownSync(path, Number(uid.trim()), Number(gid.trim()));
  const env = [
    `HOME=${RABBITMQ_HOME}`,
    `RABBITMQ_NODENAME=${node}`,
    `RABBITMQ_NODE_PORT=${port}`,
    `RABBITMQ_CONFIG_FILE=${join(folder, 'rabbitmq.conf')}`,
    `RABBITMQ_ENABLED_PLUGINS_FILE=${join(folder, 'enabled_plugins')}`,
    `RABBITMQ_MNESIA_BASE=${join(folder, 'mnesia')}`,
    `RABBITMQ_LOG_BASE=${join(folder, 'log')}`,
    `RABBITMQ_PID_FILE=${join(folder, 'pid')}`,
  ];
  const asRabbitmq = (tool: string, args: string[]) => run('runuser', ['-u', 'rabbitmq', '--', 'env', ...env, join(BIN, tool), ...args], { cwd: folder });
  const ctl = (args: string[]) => asRabbitmq('rabbitmqctl', ['-n', node, '-q', ...args]);
  await asRabbitmq('rabbitmq-server', ['-detached']);
  // `wait` follows the pid file, so it also covers the moments before the node is reachable.
  await ctl(['wait', join(folder, 'pid'), '--timeout', '60']);
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    stopApp: async () => {
      await ctl(['stop_app']);
    },
    startApp: async () => {
      await ctl(['start_app']);
      await ctl(['await_startup', '--timeout', '60']);
    },
    closeAllConnections: async () => {
      await ctl(['close_all_connections', 'test: closing every connection']);
    },
    async destroy() {
      await ctl(['stop']).catch(() => undefined);
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
