/**
 * Keeps docker-compose.yml and the Dockerfile honest without a Docker engine: they are parsed and
 * checked against the services' real configuration schemas, ports and entry points.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { monitorEnvironmentSchema } from '@defib/monitor';
import { notifierEnvironmentSchema } from '@defib/notifier';
import { recoveryEnvironmentSchema } from '@defib/recovery';
import { registryEnvironmentSchema } from '@defib/registry';
import { simulatorEnvironmentSchema } from '@defib/simulator';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { z } from 'zod';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface ComposeService {
  image?: string;
  build?: { context: string; args?: Record<string, string> };
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8');

interface Part {
  name: string;
  dir: string;
  /** The schema its config loader really uses. */
  schema: z.ZodObject;
  /** Its default port. */
  port: number;
  /** The infrastructure that must be healthy before it starts. */
  dependsOn: readonly ('postgres' | 'rabbitmq')[];
  /**
   * Whether it reaches PostgreSQL and RabbitMQ through DATABASE_URL and AMQP_URL. The simulator
   * has no database, and its agents take their broker URL from each VM's agent configuration.
   */
  connectsThroughEnvironment: boolean;
}

/** Each Defib part in the compose file. */
const parts: Part[] = [
  { name: 'registry', dir: 'services/registry', schema: registryEnvironmentSchema, port: 7101, dependsOn: ['postgres', 'rabbitmq'], connectsThroughEnvironment: true },
  { name: 'monitor', dir: 'services/monitor', schema: monitorEnvironmentSchema, port: 7102, dependsOn: ['postgres', 'rabbitmq'], connectsThroughEnvironment: true },
  { name: 'recovery', dir: 'services/recovery', schema: recoveryEnvironmentSchema, port: 7103, dependsOn: ['postgres', 'rabbitmq'], connectsThroughEnvironment: true },
  { name: 'notifier', dir: 'services/notifier', schema: notifierEnvironmentSchema, port: 7104, dependsOn: ['postgres', 'rabbitmq'], connectsThroughEnvironment: true },
  { name: 'simulator', dir: 'simulator', schema: simulatorEnvironmentSchema, port: 7200, dependsOn: ['rabbitmq'], connectsThroughEnvironment: false },
];

function requiredVariables(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => !(field as z.ZodType).safeParse(undefined).success)
    .map(([name]) => name);
}

describe('deployment files', () => {
  it('runs every part with the PostgreSQL and RabbitMQ it needs healthy first', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'rabbitmq', ...parts.map((part) => part.name)]));
    for (const part of parts) {
      const service = compose.services[part.name];
      expect(service?.depends_on, part.name).toEqual(Object.fromEntries(part.dependsOn.map((dependency) => [dependency, { condition: 'service_healthy' }])));
    }
  });

  for (const part of parts) {
    describe(part.name, () => {
      const service = compose.services[part.name] ?? {};
      const environment = service.environment ?? {};

      it('builds the image of its own workspace, whose entry point exists', () => {
        expect(service.build?.args?.SERVICE_DIR).toBe(part.dir);
        expect(existsSync(`${root}${part.dir}/src/main.ts`)).toBe(true);
      });

      it('sets only variables its configuration knows, and every one it requires', () => {
        const known = Object.keys(part.schema.shape);
        expect(Object.keys(environment).filter((variable) => !known.includes(variable))).toEqual([]);
        expect(requiredVariables(part.schema).filter((variable) => !(variable in environment))).toEqual([]);
      });

      it('listens on all interfaces on its own port, published and health-checked', () => {
        expect(environment.HOST).toBe('0.0.0.0');
        expect(Number(environment.PORT)).toBe(part.port);
        expect((part.schema.shape.PORT as z.ZodType | undefined)?.parse(undefined)).toBe(part.port);
        expect(service.ports).toContain(`${part.port}:${part.port}`);
        expect(service.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${part.port}/readyz`);
      });

      it('gets an environment its configuration accepts', () => {
        const sample = Object.fromEntries(
          Object.entries(environment).map(([variable, value]) => [variable, value.startsWith('${') ? sampleValue(value) : value]),
        );
        // the config loader treats an empty variable as unset
        const present = Object.fromEntries(Object.entries(sample).filter(([, value]) => value !== ''));
        expect(part.schema.safeParse(present).error?.issues ?? []).toEqual([]);
      });

      it(part.connectsThroughEnvironment ? 'points at the compose PostgreSQL and RabbitMQ' : 'reads no database or broker URL, having none of its own', () => {
        if (!part.connectsThroughEnvironment) {
          expect(Object.keys(part.schema.shape)).not.toContain('DATABASE_URL');
          expect(Object.keys(part.schema.shape)).not.toContain('AMQP_URL');
          return;
        }
        const database = new URL(environment.DATABASE_URL ?? '');
        const broker = new URL(environment.AMQP_URL ?? '');
        expect(database.hostname).toBe('postgres');
        expect(broker.hostname).toBe('rabbitmq');
        const postgres = compose.services.postgres?.environment ?? {};
        expect(database.username).toBe(postgres.POSTGRES_USER);
        expect(database.pathname).toBe(`/${postgres.POSTGRES_DB}`);
        expect(broker.username).toBe(compose.services.rabbitmq?.environment?.RABBITMQ_DEFAULT_USER);
      });

      it('never bakes a secret into the compose file', () => {
        for (const variable of ['DEFIB_ADMIN_TOKEN', 'DEFIB_SECRET_KEY', 'DEFIB_AGENT_SECRET', 'DEFIB_SERVICE_TOKEN', 'DEFIB_SERVICE_TOKENS']) {
          if (variable in environment) expect(environment[variable]).toMatch(/^\$\{[A-Z_]+:\?/);
        }
      });
    });
  }

  for (const name of ['monitor', 'recovery']) {
    it(`lets the ${name} fetch cloud credentials from the registry with a token the registry accepts`, () => {
      const environment = compose.services[name]?.environment ?? {};
      const registry = compose.services.registry?.environment ?? {};
      expect(variableOf(environment.DEFIB_SERVICE_TOKEN)).toBeDefined();
      expect(variableOf(registry.DEFIB_SERVICE_TOKENS)).toBe(variableOf(environment.DEFIB_SERVICE_TOKEN));
      const registryUrl = new URL(environment.DEFIB_REGISTRY_URL ?? '');
      expect(registryUrl.hostname).toBe('registry');
      expect(Number(registryUrl.port)).toBe(Number(registry.PORT));
    });
  }

  it('signs agent messages in the monitor and recovery with the same installation secret, and seals credentials with the same key', () => {
    const monitor = compose.services.monitor?.environment ?? {};
    const recovery = compose.services.recovery?.environment ?? {};
    for (const variable of ['DEFIB_AGENT_SECRET', 'DEFIB_SECRET_KEY']) {
      expect(variableOf(recovery[variable]), variable).toBe(variable);
      expect(variableOf(monitor[variable]), variable).toBe(variable);
    }
  });

  it('hands the VMs an agent broker URL that reaches the compose RabbitMQ by default', () => {
    const reference = compose.services.recovery?.environment?.RECOVERY_AGENT_BROKER_URL ?? '';
    expect(variableOf(reference)).toBe('RECOVERY_AGENT_BROKER_URL');
    const broker = new URL(sampleValue(reference));
    expect(broker.hostname).toBe('rabbitmq');
    expect(broker.username).toBe(compose.services.rabbitmq?.environment?.RABBITMQ_DEFAULT_USER);
    expect(broker.password).toBe(compose.services.rabbitmq?.environment?.RABBITMQ_DEFAULT_PASS);
  });

  it('lets the simulator’s seed and speed be chosen when starting, with defaults its configuration accepts', () => {
    const environment = compose.services.simulator?.environment ?? {};
    for (const variable of ['SIM_SEED', 'SIM_SPEED_FACTOR']) {
      expect(environment[variable], variable).toMatch(new RegExp(`^\\$\\{${variable}:-.+\\}$`));
      expect(simulatorEnvironmentSchema.shape[variable as 'SIM_SEED' | 'SIM_SPEED_FACTOR'].safeParse(sampleValue(environment[variable] ?? '')).success, variable).toBe(true);
    }
  });

  it('installs every package a runnable part imports as a production dependency', () => {
    for (const part of parts) {
      const manifest = JSON.parse(readFileSync(`${root}${part.dir}/package.json`, 'utf8')) as { dependencies?: Record<string, string> };
      const production = Object.keys(manifest.dependencies ?? {});
      const imported = new Set<string>();
      for (const file of sourceFiles(`${root}${part.dir}/src`)) {
        for (const [, specifier = ''] of readFileSync(file, 'utf8').matchAll(/^import\s(?!type\s)[^;]*?\sfrom\s+'([^'.][^']*)'/gm)) {
          if (specifier.startsWith('node:')) continue;
          imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? specifier));
        }
      }
      expect([...imported].filter((name) => !production.includes(name)), part.name).toEqual([]);
    }
  });

  it('copies the manifest of every workspace package, so a frozen install works in the image', () => {
    const workspaces = [
      ...readdirSync(`${root}packages`).map((name) => `packages/${name}`),
      ...readdirSync(`${root}services`).map((name) => `services/${name}`),
      'simulator',
      'test',
    ].filter((dir) => existsSync(`${root}${dir}/package.json`));
    for (const dir of workspaces) expect(dockerfile, dir).toContain(`COPY ${dir}/package.json ${dir}/`);
    expect(dockerfile).toMatch(/^FROM node:24/m);
    expect(dockerfile).toContain('pnpm install --frozen-lockfile --prod');
    // The part with its workspace dependencies and theirs: pnpm reads "./dir..." as the part alone.
    expect(dockerfile).toContain('--filter "{./${SERVICE_DIR}}..."');
    const packageJson = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { packageManager: string };
    expect(dockerfile).toContain(`pnpm@${packageJson.packageManager.replace('pnpm@', '')}`);
  });
});

/** The runtime sources of a part: its TypeScript files, without unit specs. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts'))
    .map((entry) => `${entry.parentPath}/${entry.name}`);
}

/** The variable a `${VAR:?…}` or `${VAR:-…}` reference names. */
function variableOf(reference: string | undefined): string | undefined {
  return /^\$\{([A-Z_]+)[:}]/.exec(reference ?? '')?.[1];
}

/** What compose would substitute: the `${VAR:-default}` default, or a plausible value for a required `${VAR:?…}`. */
function sampleValue(reference: string): string {
  const fallback = /^\$\{[A-Z_]+:-(.*)\}$/.exec(reference);
  if (fallback !== null) return fallback[1] ?? '';
  return reference.startsWith('${DEFIB_SECRET_KEY') || reference.startsWith('${DEFIB_AGENT_SECRET') ? Buffer.alloc(32, 7).toString('base64') : 'sample-token-0123456789';
}
