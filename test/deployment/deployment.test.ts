/**
 * Keeps docker-compose.yml, the Dockerfile and .dockerignore honest without a Docker engine: they are
 * parsed and checked against the parts' real configuration schemas, their ports, the health paths the
 * code serves, the entry points the commands name and what the build context holds.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import dockerignoreModule from '@balena/dockerignore';
import { monitorEnvironmentSchema } from '@defib/monitor';
import { notifierEnvironmentSchema } from '@defib/notifier';
import { createHttpApp, createLogger, startHttpServer } from '@defib/platform';
import { recoveryEnvironmentSchema } from '@defib/recovery';
import { registryEnvironmentSchema } from '@defib/registry';
import { createSimulator, simulatorEnvironmentSchema } from '@defib/simulator';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { z } from 'zod';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(`${root}${file}`, 'utf8');

interface ComposeService {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  profiles?: string[];
  restart?: string;
  user?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const composeText = read('docker-compose.yml');
const compose = parse(composeText, { merge: true }) as { services: Record<string, ComposeService> };
const services = compose.services;
const dockerfile = read('Dockerfile');
// CommonJS whose module.exports is the factory itself, though its typings declare a default export.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;
/** Docker's reading of .dockerignore (the library dockerode builds contexts with). */
const buildContext = dockerignore().add(read('.dockerignore').split('\n'));

/** What the environment of a Defib part in the compose file is checked against. */
interface Part {
  name: string;
  dir: string;
  /** The schema its config loader really uses. */
  schema: z.ZodObject;
  /** Its default port. */
  port: number;
  /** The services that must be healthy before it starts. */
  dependsOn: readonly string[];
  /**
   * Whether it reaches PostgreSQL and RabbitMQ through DATABASE_URL and AMQP_URL. The simulator
   * has no database, and its agents take their broker URL from each VM's agent configuration.
   */
  connectsThroughEnvironment: boolean;
}

const parts: Part[] = [
  { name: 'registry', dir: 'services/registry', schema: registryEnvironmentSchema, port: 7101, dependsOn: ['postgres', 'rabbitmq'], connectsThroughEnvironment: true },
  { name: 'monitor', dir: 'services/monitor', schema: monitorEnvironmentSchema, port: 7102, dependsOn: ['postgres', 'rabbitmq', 'registry'], connectsThroughEnvironment: true },
  { name: 'recovery', dir: 'services/recovery', schema: recoveryEnvironmentSchema, port: 7103, dependsOn: ['postgres', 'rabbitmq', 'registry'], connectsThroughEnvironment: true },
  { name: 'notifier', dir: 'services/notifier', schema: notifierEnvironmentSchema, port: 7104, dependsOn: ['postgres', 'rabbitmq', 'mailpit'], connectsThroughEnvironment: true },
  { name: 'simulator', dir: 'simulator', schema: simulatorEnvironmentSchema, port: 7200, dependsOn: ['rabbitmq'], connectsThroughEnvironment: false },
];

/** The services `docker compose up` starts: every one outside a profile. */
const longRunning = Object.entries(services).filter(([, service]) => service.profiles === undefined);

/** Every `node <file>` the compose services and the image's default command run. */
const nodeCommands: { where: string; file: string }[] = [
  ...Object.entries(services).map(([name, service]) => ({ where: `service ${name}`, command: service.command ?? [] })),
  { where: 'the Dockerfile CMD', command: JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[] },
]
  .filter(({ command }) => command[0] === 'node')
  .map(({ where, command }) => ({ where, file: command.slice(1).find((arg) => !arg.startsWith('-')) ?? '' }));

/** The workspaces pnpm-workspace.yaml declares (`packages/*` expanded). */
const workspaces = (parse(read('pnpm-workspace.yaml')) as { packages: string[] }).packages
  .flatMap((pattern) => (pattern.endsWith('/*') ? readdirSync(`${root}${pattern.slice(0, -2)}`).map((name) => `${pattern.slice(0, -2)}/${name}`) : [pattern]))
  .filter((dir) => existsSync(`${root}${dir}/package.json`));

/** Where a part's healthcheck asks: `http://127.0.0.1:<its PORT><path>`, or undefined when it asks elsewhere. */
function healthcheckPath(service: ComposeService): string | undefined {
  return /fetch\('http:\/\/127\.0\.0\.1:'\+process\.env\.PORT\+'(\/[^']*)'\)/.exec(service.healthcheck?.test.join(' ') ?? '')?.[1];
}

describe('the docker compose deployment', () => {
  it('runs PostgreSQL, RabbitMQ, Mailpit, the four services and the simulator with docker compose up, and the drill only in its profile', () => {
    expect(longRunning.map(([name]) => name).sort()).toEqual(['postgres', 'rabbitmq', 'mailpit', ...parts.map((part) => part.name)].sort());
    expect(services.drill?.profiles).toEqual(['drill']);
  });

  it('health-checks every long-running service and restarts it unless stopped', () => {
    for (const [name, service] of longRunning) {
      expect(service.healthcheck?.test.length, name).toBeGreaterThan(1);
      expect(service.restart, name).toBe('unless-stopped');
    }
  });

  it('starts a service only once each service it depends on exists and reports healthy', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services[dependency], `${name} → ${dependency}`).toBeDefined();
        expect(services[dependency]?.healthcheck, `${name} → ${dependency}`).toBeDefined();
        expect(services[dependency]?.profiles, `${name} → ${dependency}`).toBeUndefined();
        expect(condition, `${name} → ${dependency}`).toBe('service_healthy');
      }
    }
  });

  it('publishes the RabbitMQ management UI and the Mailpit UI on this host only', () => {
    expect(services.rabbitmq?.image).toMatch(/^rabbitmq:3\.13-management/);
    expect(services.rabbitmq?.ports).toEqual(['127.0.0.1:15672:15672']);
    expect(services.mailpit?.image).toMatch(/^axllent\/mailpit:/);
    expect(services.mailpit?.ports).toEqual(['127.0.0.1:8025:8025']);
  });

  it('sends the notifier’s email to Mailpit’s SMTP port by default, from an address its configuration accepts', () => {
    const environment = services.notifier?.environment ?? {};
    expect(variableOf(environment.NOTIFIER_SMTP_URL)).toBe('NOTIFIER_SMTP_URL');
    const smtp = new URL(sampleValue(environment.NOTIFIER_SMTP_URL ?? ''));
    expect([smtp.protocol, smtp.hostname, smtp.port]).toEqual(['smtp:', 'mailpit', '1025']);
    expect(notifierEnvironmentSchema.shape.NOTIFIER_EMAIL_FROM.safeParse(sampleValue(environment.NOTIFIER_EMAIL_FROM ?? '')).success).toBe(true);
  });

  it('names every required variable in .env.example, so a copy of it is what compose needs', () => {
    const required = new Set([...composeText.matchAll(/\$\{([A-Z_]+):\?/g)].map(([, variable]) => variable));
    expect(required.size).toBeGreaterThan(0);
    const example = read('.env.example');
    for (const variable of required) expect(example, variable).toMatch(new RegExp(`^${variable}=`, 'm'));
  });

  it('runs every entry point a command names, present in the repository and in the image', () => {
    expect(nodeCommands.length).toBeGreaterThan(parts.length);
    for (const { where, file } of nodeCommands) {
      expect(existsSync(`${root}${file}`), `${where}: ${file} does not exist`).toBe(true);
      expect(buildContext.ignores(file), `${where}: ${file} is left out of the image by .dockerignore`).toBe(false);
    }
  });

  for (const part of parts) {
    describe(part.name, () => {
      const service = services[part.name] ?? {};
      const environment = service.environment ?? {};

      it('runs its own entry point from the one Defib image', () => {
        expect(service.command).toEqual(['node', `${part.dir}/src/main.ts`]);
        expect(service.image).toBe(services.registry?.image);
        expect(service.build).toBe('.');
      });

      it('starts once the services it needs are healthy', () => {
        expect(service.depends_on).toEqual(Object.fromEntries(part.dependsOn.map((dependency) => [dependency, { condition: 'service_healthy' }])));
      });

      it('sets only variables its configuration knows, and every one it requires', () => {
        const known = Object.keys(part.schema.shape);
        expect(Object.keys(environment).filter((variable) => !known.includes(variable))).toEqual([]);
        expect(requiredVariables(part.schema).filter((variable) => !(variable in environment))).toEqual([]);
      });

      it('gets an environment its configuration accepts', () => {
        expect(part.schema.safeParse(substituted(environment)).error?.issues ?? []).toEqual([]);
      });

      it('listens on all interfaces on its own port, published, and is health-checked there', () => {
        expect(environment.HOST).toBe('0.0.0.0');
        expect(Number(environment.PORT)).toBe(part.port);
        expect((part.schema.shape.PORT as z.ZodType | undefined)?.parse(undefined)).toBe(part.port);
        expect(service.ports).toEqual([`${part.port}:${part.port}`]);
        expect(healthcheckPath(service)).toBe('/readyz');
      });

      it(part.connectsThroughEnvironment ? 'points at the compose PostgreSQL and RabbitMQ' : 'reads no database or broker URL, having none of its own', () => {
        if (!part.connectsThroughEnvironment) {
          expect(Object.keys(part.schema.shape)).not.toContain('DATABASE_URL');
          expect(Object.keys(part.schema.shape)).not.toContain('AMQP_URL');
          return;
        }
        expectComposeInfrastructure(environment);
      });

      it('never bakes a secret into the compose file', () => {
        for (const variable of ['DEFIB_ADMIN_TOKEN', 'DEFIB_SECRET_KEY', 'DEFIB_AGENT_SECRET', 'DEFIB_SERVICE_TOKEN', 'DEFIB_SERVICE_TOKENS']) {
          if (variable in environment) expect(environment[variable]).toMatch(/^\$\{[A-Z_]+:\?/);
        }
      });
    });
  }

  describe('health paths', () => {
    let simulatorUrl = '';
    let platformUrl = '';
    const logger = createLogger({ service: 'deployment-test', level: 'silent' });
    const closers: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      const simulator = createSimulator();
      simulatorUrl = (await simulator.start(0)).url;
      closers.push(() => simulator.stop());
      // What every service's kernel serves besides its own routes (createServiceKernel builds it so).
      const app = createHttpApp({ service: 'probe', version: 'test', logger, auth: { readTokens: [], openReads: false }, bodyLimitBytes: 1_024, routes: [], metrics: new Registry(), openapi: { title: 'probe' } });
      const server = await startHttpServer(app, { port: 0, logger, shutdownGraceMs: 100 });
      platformUrl = server.url;
      closers.push(() => server.close());
    });

    afterAll(async () => {
      for (const close of closers.reverse()) await close();
    });

    it('are served by the simulator and by the HTTP bootstrap every service is built on', async () => {
      for (const part of parts) {
        const path = healthcheckPath(services[part.name] ?? {}) ?? '(none)';
        const base = part.name === 'simulator' ? simulatorUrl : platformUrl;
        expect((await fetch(`${base}${path}`)).status, `${part.name} ${path}`).toBe(200);
        if (part.name !== 'simulator') {
          expect(sourceFiles(`${root}${part.dir}/src`).some((file) => readFileSync(file, 'utf8').includes('createServiceKernel<')), part.name).toBe(true);
        }
      }
    });
  });

  for (const name of ['monitor', 'recovery']) {
    it(`lets the ${name} fetch cloud credentials from the registry with a token the registry accepts`, () => {
      const environment = services[name]?.environment ?? {};
      const registry = services.registry?.environment ?? {};
      expect(variableOf(environment.DEFIB_SERVICE_TOKEN)).toBeDefined();
      expect(variableOf(registry.DEFIB_SERVICE_TOKENS)).toBe(variableOf(environment.DEFIB_SERVICE_TOKEN));
      const registryUrl = new URL(environment.DEFIB_REGISTRY_URL ?? '');
      expect(registryUrl.hostname).toBe('registry');
      expect(Number(registryUrl.port)).toBe(Number(registry.PORT));
    });
  }

  it('signs agent messages in the monitor and recovery with the same installation secret, and seals credentials with the same key', () => {
    for (const variable of ['DEFIB_AGENT_SECRET', 'DEFIB_SECRET_KEY']) {
      expect(variableOf(services.recovery?.environment?.[variable]), variable).toBe(variable);
      expect(variableOf(services.monitor?.environment?.[variable]), variable).toBe(variable);
    }
  });

  it('hands the simulator’s VMs an agent broker URL that reaches the compose RabbitMQ from the simulator’s container', () => {
    const reference = services.recovery?.environment?.RECOVERY_AGENT_BROKER_URL ?? '';
    expect(variableOf(reference)).toBe('RECOVERY_AGENT_BROKER_URL');
    const broker = new URL(sampleValue(reference));
    expect(broker.hostname).toBe('rabbitmq');
    expect(broker.username).toBe(services.rabbitmq?.environment?.RABBITMQ_DEFAULT_USER);
    expect(broker.password).toBe(services.rabbitmq?.environment?.RABBITMQ_DEFAULT_PASS);
    expect(services.simulator?.depends_on).toHaveProperty('rabbitmq');
  });

  it('lets the simulator’s seed and speed be chosen when starting, with defaults its configuration accepts', () => {
    const environment = services.simulator?.environment ?? {};
    for (const variable of ['SIM_SEED', 'SIM_SPEED_FACTOR']) {
      expect(environment[variable], variable).toMatch(new RegExp(`^\\$\\{${variable}:-.+\\}$`));
      expect(simulatorEnvironmentSchema.shape[variable as 'SIM_SEED' | 'SIM_SPEED_FACTOR'].safeParse(sampleValue(environment[variable] ?? '')).success, variable).toBe(true);
    }
  });

  describe('the drill profile', () => {
    const drill = services.drill ?? {};

    it('runs the default drill once, from the one Defib image, writing its reports into ./reports', () => {
      expect(drill.command).toEqual(['node', 'packages/drill/src/main.ts', '--out', 'reports']);
      expect(drill.image).toBe(services.registry?.image);
      expect(drill.restart).toBe('no');
      // WORKDIR /app: `--out reports` is /app/reports, the bind mount.
      expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
      expect(drill.volumes).toEqual(['./reports:/app/reports']);
      expect(drill.user).toMatch(/^\$\{[A-Z_]+:-node\}$/);
    });

    it('runs its own copies of the parts against the compose PostgreSQL and RabbitMQ, once they are healthy', () => {
      expect(drill.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, rabbitmq: { condition: 'service_healthy' } });
      expectComposeInfrastructure(drill.environment ?? {});
    });

    it('finds its scenarios and the manifests they name in the image', () => {
      for (const file of ['drills/default.yaml', 'examples/wordpress.yaml']) expect(buildContext.ignores(file), file).toBe(false);
    });
  });

  describe('the image', () => {
    it('installs from the lockfile the manifest of every workspace package, with the pinned pnpm', () => {
      for (const dir of workspaces) expect(dockerfile, dir).toContain(`COPY ${dir}/package.json ${dir}/`);
      expect(dockerfile).toMatch(/^FROM node:24/m);
      expect(dockerfile).toContain('pnpm install --frozen-lockfile --prod');
      const packageJson = JSON.parse(read('package.json')) as { packageManager: string };
      expect(dockerfile).toContain(`pnpm@${packageJson.packageManager.replace('pnpm@', '')}`);
      for (const source of copiedSources()) expect(buildContext.ignores(source), `${source} is copied but left out of the build context`).toBe(false);
    });

    it('installs the production dependencies of every part a command runs, and of their workspace dependencies', () => {
      // "{./dir}..." selects the part with its workspace dependencies and theirs.
      const selected = [...dockerfile.matchAll(/--filter "\{\.\/([^}]+)\}\.\.\."/g)].map(([, pattern = '']) => new RegExp(`^${pattern.replaceAll('*', '[^/]+')}$`));
      for (const dir of runnableDirs()) expect(selected.some((pattern) => pattern.test(dir)), dir).toBe(true);
    });

    it('installs every package a runnable part imports as a production dependency', () => {
      for (const dir of runnableDirs()) {
        const manifest = JSON.parse(read(`${dir}/package.json`)) as { dependencies?: Record<string, string> };
        const production = Object.keys(manifest.dependencies ?? {});
        const imported = new Set<string>();
        for (const file of sourceFiles(`${root}${dir}/src`)) {
          for (const [, specifier = ''] of readFileSync(file, 'utf8').matchAll(/^import\s(?!type\s)[^;]*?\sfrom\s+'([^'.][^']*)'/gm)) {
            if (specifier.startsWith('node:')) continue;
            imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? specifier));
          }
        }
        expect([...imported].filter((name) => !production.includes(name)), dir).toEqual([]);
      }
    });

    it('holds the runtime sources of every workspace, and never secrets, the toolchain, tests or installed modules', () => {
      for (const dir of workspaces.filter((workspace) => existsSync(`${root}${workspace}/src`))) {
        for (const file of sourceFiles(`${root}${dir}/src`)) expect(buildContext.ignores(file.slice(root.length)), file).toBe(false);
      }
      for (const file of ['.env', '.git/config', '.tools/node/bin/node', 'node_modules/zod/package.json', 'services/registry/node_modules/zod/package.json', 'test/deployment/deployment.test.ts', 'services/registry/test/api.test.ts', 'packages/platform/src/config.spec.ts', 'reports/drill-report.json']) {
        expect(buildContext.ignores(file), file).toBe(true);
      }
    });
  });
});

/** Asserts DATABASE_URL and AMQP_URL name the compose PostgreSQL and RabbitMQ with their users. */
function expectComposeInfrastructure(environment: Record<string, string>): void {
  const database = new URL(environment.DATABASE_URL ?? '');
  const broker = new URL(environment.AMQP_URL ?? '');
  const postgres = services.postgres?.environment ?? {};
  const rabbitmq = services.rabbitmq?.environment ?? {};
  expect([database.hostname, database.port, database.username, database.password, database.pathname]).toEqual(['postgres', '5432', postgres.POSTGRES_USER, postgres.POSTGRES_PASSWORD, `/${postgres.POSTGRES_DB}`]);
  expect([broker.hostname, broker.port, broker.username, broker.password]).toEqual(['rabbitmq', '5672', rabbitmq.RABBITMQ_DEFAULT_USER, rabbitmq.RABBITMQ_DEFAULT_PASS]);
}

/** The directories of the parts the commands run (`services/registry` for `services/registry/src/main.ts`). */
function runnableDirs(): string[] {
  return [...new Set(nodeCommands.map(({ file }) => file.replace(/\/src\/[^/]+$/, '')))].filter((dir) => existsSync(`${root}${dir}/src`));
}

/** The build-context paths the Dockerfile's COPY instructions name (not those copied from a stage). */
function copiedSources(): string[] {
  return [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap(([, operands = '']) => operands.trim().split(/\s+/).slice(0, -1)).filter((source) => source !== '.');
}

function requiredVariables(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => !(field as z.ZodType).safeParse(undefined).success)
    .map(([name]) => name);
}

/** The runtime sources of a part: its TypeScript files, without unit specs. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts'))
    .map((entry) => `${entry.parentPath}/${entry.name}`);
}

/** The environment as compose would hand it over, without the variables left empty (the config loader treats those as unset). */
function substituted(environment: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environment)
      .map(([variable, value]) => [variable, value.includes('${') ? sampleValue(value) : value] as const)
      .filter(([, value]) => value !== ''),
  );
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
