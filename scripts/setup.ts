/**
 * The set-up step of `./defib`: writes `.env` from `.env.example` with fresh secrets when there is
 * none, then checks that PostgreSQL and RabbitMQ answer where the settings say, and says what to
 * start when they do not. Exits 1 when one is missing.
 *
 *   node scripts/setup.ts [--check-infrastructure]
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { processEnvironment } from '../packages/platform/src/config.ts';
import { unreachableInfrastructure } from '../packages/drill/src/infrastructure.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Secrets `.env.example` leaves empty, and how a fresh one is made. */
const FRESH_SECRETS: Record<string, () => string> = {
  DEFIB_ADMIN_TOKEN: () => randomBytes(24).toString('hex'),
  DEFIB_SECRET_KEY: () => randomBytes(32).toString('base64'),
  DEFIB_AGENT_SECRET: () => randomBytes(32).toString('base64'),
};

/** `.env.example` with every empty secret filled in; the registry accepts the one service token the services present. */
function freshEnvFile(example: string): string {
  const serviceToken = randomBytes(24).toString('hex');
  const secrets: Record<string, () => string> = { ...FRESH_SECRETS, DEFIB_SERVICE_TOKEN: () => serviceToken, DEFIB_SERVICE_TOKENS: () => serviceToken };
  return example.replace(/^([A-Z_]+)=$/gm, (line, name: string) => {
    const make = secrets[name];
    return make === undefined ? line : `${name}=${make()}`;
  });
}

if (!existsSync(`${root}.env`)) {
  writeFileSync(`${root}.env`, freshEnvFile(readFileSync(`${root}.env.example`, 'utf8')), { mode: 0o600 });
  console.error('setup: wrote .env with a fresh admin token and secrets (DEFIB_ADMIN_TOKEN is in there)');
}

if (process.argv.includes('--check-infrastructure')) {
  const env = processEnvironment();
  const databaseUrl = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const amqpUrl = env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const missing = await unreachableInfrastructure({ databaseUrl, amqpUrl });
  if (missing.length > 0) {
    console.error(`setup: ${missing.join('; ')}`);
    process.exit(1);
  }
}
