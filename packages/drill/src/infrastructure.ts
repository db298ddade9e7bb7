/**
 * Finds PostgreSQL and RabbitMQ for the drill and the tests, in the order the brief sets: DATABASE_URL / AMQP_URL
 * when set; else the local defaults when they answer; else throwaway containers when a Docker
 * engine is available; else a clear message saying what to start.
 */
import { connect } from 'node:net';

export interface Infrastructure {
  databaseUrl: string;
  amqpUrl: string;
  /** Stops whatever this run started (containers); a no-op for existing servers. */
  stop(): Promise<void>;
}

const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** Resolves true when something accepts TCP connections at the URL's host and port. */
export function answers(url: string, defaultPort: number, timeoutMs = 1_000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: port === '' ? defaultPort : Number(port) });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** What of PostgreSQL and RabbitMQ (those given) does not answer, each with how to start it. */
export async function unreachableInfrastructure(urls: { databaseUrl?: string | undefined; amqpUrl?: string | undefined }): Promise<string[]> {
  const { databaseUrl, amqpUrl } = urls;
  const problems = [
    databaseUrl !== undefined && !(await answers(databaseUrl, 5432))
      ? `PostgreSQL does not answer at ${new URL(databaseUrl).host} (DATABASE_URL): start it (\`pg_ctlcluster <version> main start\`, your system's service) or point DATABASE_URL at one`
      : undefined,
    amqpUrl !== undefined && !(await answers(amqpUrl, 5672)) ? `RabbitMQ does not answer at ${new URL(amqpUrl).host} (AMQP_URL): start it (\`rabbitmq-server -detached\`, your system's service) or point AMQP_URL at one` : undefined,
  ];
  return problems.filter((problem) => problem !== undefined);
}

/**
 * Throws a message naming what is missing and how to start it: a URL that is set but does not
 * answer, or nothing found at all (`purpose` names who needs them: "Defib's tests", "the drill").
 */
export async function resolveInfrastructure(env: Readonly<Record<string, string | undefined>>, purpose = "Defib's tests"): Promise<Infrastructure> {
  let databaseUrl = env.DATABASE_URL;
  let amqpUrl = env.AMQP_URL;
  // Set explicitly, they may still point nowhere: say which, and how to fix it, before anything starts.
  const unreachable = await unreachableInfrastructure({ databaseUrl, amqpUrl });
  if (unreachable.length > 0) throw new Error(unreachable.join('; '));
  const stops: (() => Promise<unknown>)[] = [];
  if (databaseUrl === undefined && (await answers(LOCAL_DATABASE_URL, 5432))) databaseUrl = LOCAL_DATABASE_URL;
  if (amqpUrl === undefined && (await answers(LOCAL_AMQP_URL, 5672))) amqpUrl = LOCAL_AMQP_URL;
  if ((databaseUrl === undefined || amqpUrl === undefined) && (await dockerAvailable())) {
    if (databaseUrl === undefined) {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:17-alpine').start();
      databaseUrl = container.getConnectionUri();
      stops.push(() => container.stop());
    }
    if (amqpUrl === undefined) {
      const { RabbitMQContainer } = await import('@testcontainers/rabbitmq');
      const container = await new RabbitMQContainer('rabbitmq:3.13-alpine').start();
      amqpUrl = container.getAmqpUrl();
      stops.push(() => container.stop());
    }
  }
  if (databaseUrl === undefined || amqpUrl === undefined) {
    const missing = [
      databaseUrl === undefined ? 'PostgreSQL, which does not answer at 127.0.0.1:5432 (start it, e.g. `docker compose up -d postgres` or `pg_ctlcluster <version> main start`, or set DATABASE_URL)' : undefined,
      amqpUrl === undefined ? 'RabbitMQ, which does not answer at 127.0.0.1:5672 (start it, e.g. `docker compose up -d rabbitmq` or `rabbitmq-server -detached`, or set AMQP_URL)' : undefined,
    ].filter(Boolean);
    throw new Error(`${purpose} need${purpose.endsWith('s') ? '' : 's'} ${missing.join(' and ')}; no Docker engine is available to start them.`);
  }
  return {
    databaseUrl,
    amqpUrl,
    async stop() {
      await Promise.allSettled(stops.map((stop) => stop()));
    },
  };
}
