/**
 * The README cannot drift from the code: its shell examples are run here, in order, the way a
 * user runs them in a second terminal — against real parts started by `pnpm start`'s supervisor
 * with the settings in a `.env` of the test's own, which the examples load exactly as the README
 * says. Only the ports change: the parts listen on free ports instead of their defaults.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSupervisorProcess, type SupervisorProcess } from '../../packages/supervisor/test/supervisor-process.ts';
import { cleanUpServiceBus, createIsolatedBus, createIsolatedDatabase, type IsolatedBus, type IsolatedDatabase } from '../support/index.ts';
import { processEnvironment } from '@defib/platform';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The README's fenced blocks of one language, in order. */
function fencedBlocks(language: string): string[] {
  return [...readme.matchAll(new RegExp('^```' + language + '\\n([\\s\\S]*?)^```', 'gm'))].map((match) => match[1] ?? '');
}

const shellBlocks = fencedBlocks('sh');
const httpBlocks = shellBlocks.filter((block) => /^\s*curl /m.test(block));
const curlCount = httpBlocks.reduce((count, block) => count + (block.match(/^\s*curl /gm)?.length ?? 0), 0);

/** Default port of each part this checkout runs (recovery once its entry point exists), as the README uses them. */
const DEFAULT_PORTS: Record<string, string> = Object.fromEntries(
  Object.entries({ registry: '7101', monitor: '7102', recovery: '7103', notifier: '7104', simulator: '7200' }).filter(([part]) => existsSync(join(root, part === 'simulator' ? part : `services/${part}`, 'src', 'main.ts'))),
);

/** Records each curl's status code and command line instead of printing the answer. */
const CURL_RECORDER = `curl() {
  local status
  status=$(command curl -sS -o /dev/null -w '%{http_code}' "$@" 2>>"$EXAMPLE_ERRORS") || status="failed"
  local command="$*"
  printf '%s\\t%s\\n' "$status" "\${command//$'\\n'/ }" >> "$EXAMPLE_RESULTS"
}
`;

describe('the README', () => {
  it('shows commands that exist: scripts, files, parts and scenarios', () => {
    const commands = shellBlocks.flatMap((block) => block.split('\n')).filter((line) => /^(\.\/|pnpm |node )/.test(line));
    const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) {
      const [program, ...args] = command.replace(/\s+#.*$/, '').split(/\s+/);
      if (program === './defib') accessSync(join(root, 'defib'), constants.X_OK);
      else if (program === 'pnpm' && args[0] === '--filter') {
        const part = JSON.parse(readFileSync(join(root, args[1] ?? '', 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
        expect(part.scripts?.[args[2] ?? ''], command).toBeDefined();
      } else if (program === 'pnpm') expect(scripts[args[0] ?? ''], command).toBeDefined();
      const scenario = args.indexOf('--scenario');
      if (scenario >= 0) expect(existsSync(join(root, args[scenario + 1] ?? '')), command).toBe(true);
    }
    for (const [, file] of readme.matchAll(/`node (bench\/[\w-]+\.ts)/g)) expect(existsSync(join(root, file ?? '')), file).toBe(true);
  });

  it('shows the example manifest exactly as examples/wordpress.yaml holds it', () => {
    expect(fencedBlocks('yaml')).toContain(readFileSync(join(root, 'examples', 'wordpress.yaml'), 'utf8'));
  });

  describe('HTTP examples, run in order against the real parts', () => {
    let database: IsolatedDatabase;
    let bus: IsolatedBus;
    let supervisor: SupervisorProcess;
    let checkout: string;
    let results: { status: string; command: string }[] = [];
    let errors = '';

    beforeAll(async () => {
      database = await createIsolatedDatabase();
      bus = createIsolatedBus();
      // A checkout of the test's own: its .env (as ./defib writes it) and the example files.
      checkout = mkdtempSync(join(tmpdir(), 'defib-readme-'));
      symlinkSync(join(root, 'examples'), join(checkout, 'examples'));
      const envFile = join(checkout, '.env');
      const serviceToken = randomBytes(24).toString('hex');
      writeFileSync(
        envFile,
        [
          `DEFIB_ADMIN_TOKEN=${randomBytes(24).toString('hex')}`,
          `DEFIB_SECRET_KEY=${randomBytes(32).toString('base64')}`,
          `DEFIB_AGENT_SECRET=${randomBytes(32).toString('base64')}`,
          `DEFIB_SERVICE_TOKEN=${serviceToken}`,
          `DEFIB_SERVICE_TOKENS=${serviceToken}`,
          'MONITOR_REPLICA_ID=readme',
          'RECOVERY_REPLICA_ID=readme',
          `DATABASE_URL=${database.url}`,
          `AMQP_URL=${bus.url}`,
          `BUS_PREFIX=${bus.prefix}`,
          'NOTIFIER_ALLOWED_NETWORKS=127.0.0.0/8',
          '',
        ].join('\n'),
      );
      supervisor = startSupervisorProcess({ DEFIB_ENV_FILE: envFile });
      const running = await supervisor.running();
      expect(Object.keys(running).sort()).toEqual(Object.keys(DEFAULT_PORTS).sort());

      let script = CURL_RECORDER + httpBlocks.join('\n');
      for (const [part, port] of Object.entries(DEFAULT_PORTS)) {
        const actual = new URL(running[part] ?? '').port;
        script = script.replace(new RegExp(`(localhost|127\\.0\\.0\\.1):${port}\\b`, 'g'), `127.0.0.1:${actual}`);
      }
      const resultsFile = join(checkout, 'results.tsv');
      const errorsFile = join(checkout, 'errors.txt');
      writeFileSync(resultsFile, '');
      writeFileSync(errorsFile, '');
      const run = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { cwd: checkout, env: { PATH: processEnvironment().PATH ?? '', EXAMPLE_RESULTS: resultsFile, EXAMPLE_ERRORS: errorsFile }, encoding: 'utf8', timeout: 60_000 });
      errors = `${run.stderr}${readFileSync(errorsFile, 'utf8')}`;
      results = readFileSync(resultsFile, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          const [status = '', ...command] = line.split('\t');
          return { status, command: command.join('\t') };
        });
    });

    afterAll(async () => {
      await supervisor?.stop('SIGTERM');
      await cleanUpServiceBus(bus, ['registry', 'monitor', 'monitor.readme', 'recovery', 'recovery.readme', 'notifier']);
      await database?.drop();
      if (checkout !== undefined) rmSync(checkout, { recursive: true, force: true });
    });

    it('runs every curl example', () => {
      expect(curlCount).toBeGreaterThanOrEqual(9);
      expect(results.map((result) => result.command.split(' -H')[0]), errors).toHaveLength(curlCount);
    });

    it('gets a 2xx answer to each, with the token loaded from .env the way the README says', () => {
      expect(results.filter((result) => !/^2\d\d$/.test(result.status)), errors).toEqual([]);
    });
  });
});
