/**
 * The `defib` command line as a user runs it: the real CLI as a child process against a real
 * registry, monitor, recovery and notifier (one isolated database and bus prefix, the simulator's
 * clouds), nothing but their HTTP APIs in between.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNotifierService, type NotifierService } from '@defib/notifier';
import { testServiceConfig, waitFor } from '@defib/test/support';
import { processEnvironment } from '@defib/platform/config';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { testNotifierSettings } from '../../../services/notifier/test/notifier-harness.ts';
import { ADMIN_TOKEN, assemblyOf, manifestOf, startRecoveryWorld, type RecoveryWorld } from '../../../test/recovery/recovery-world.ts';
import { buildProgram, runCli } from '../src/program.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('the defib CLI', () => {
  let world: RecoveryWorld;
  let notifier: NotifierService;
  let directory: string;
  let urls: Record<string, string>;
  const outputs: string[] = [];

  function environment(overrides: Record<string, string> = {}): Record<string, string> {
    // No settings file and a home of its own: the CLI sees exactly these settings. The compile
    // cache only saves each run the time to compile the same modules again.
    return { PATH: processEnvironment().PATH ?? '', HOME: directory, NODE_COMPILE_CACHE: join(directory, 'compile-cache'), DEFIB_ENV_FILE: '', DEFIB_TOKEN: ADMIN_TOKEN, ...urls, ...overrides };
  }

  function launch(args: readonly string[], overrides: Record<string, string> = {}): ChildProcess {
    return spawn(process.execPath, [MAIN, ...args], { env: environment(overrides), stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async function defib(args: readonly string[], overrides: Record<string, string> = {}): Promise<Run> {
    const child = launch(args, overrides);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const [code] = (await once(child, 'close')) as [number | null];
    outputs.push(stdout, stderr);
    return { code, stdout, stderr };
  }

  const file = (name: string, text: string) => {
    const path = join(directory, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'defib-cli-'));
    world = await startRecoveryWorld();
    const { database, bus } = world;
    notifier = createNotifierService({
      ...testServiceConfig(database, bus, { auth: { adminToken: ADMIN_TOKEN, readTokens: [], openReads: false }, logLevel: 'silent' }),
      ...testNotifierSettings(),
    });
    world.monitorWorld.consumers.add('notifier');
    const notifierUrl = (await notifier.start()).url;
    urls = {
      DEFIB_REGISTRY_URL: world.monitorWorld.registryUrl,
      DEFIB_RECOVERY_URL: await recoveryUrl(world),
      DEFIB_NOTIFIER_URL: notifierUrl,
    };
  }, 60_000);

  afterAll(async () => {
    await notifier?.stop();
    await world?.close();
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });

  it('lists no incidents on a fresh installation', async () => {
    const [table, json] = await Promise.all([defib(['incidents']), defib(['incidents', '--open', '--output', 'json'])]);
    expect(table).toEqual({ code: 0, stdout: 'no incidents\n', stderr: '' });
    expect(JSON.parse(json.stdout)).toEqual({ items: [] });
  });

  it('applies a manifest file, then lists, gets and shows its status as tables and as JSON', async () => {
    const manifest = file('shop.yaml', stringify(manifestOf('shop', [assemblyOf('db')])));
    const applied = await defib(['apply', '-f', manifest]);
    expect(applied).toEqual({ code: 0, stdout: 'deployable shop created (version 1)\n', stderr: '' });
    expect((await defib(['apply', '-f', manifest])).stdout).toBe('deployable shop unchanged (version 1)\n');

    const [list, listJson, get, status, statusJson] = await Promise.all([
      defib(['list']),
      defib(['list', '-o', 'json']),
      defib(['get', 'deployable', 'shop']),
      defib(['status', 'shop']),
      defib(['--output', 'json', 'status', 'shop']),
    ]);
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME\s+CLOUD\s+DESIRED\s+VERSION\s+ASSEMBLIES\s+UPDATED$/);
    expect(list.stdout).toMatch(/\nshop\s+sim-openstack\s+stopped\s+1\s+db\s/);
    expect((JSON.parse(listJson.stdout) as { items: { name: string }[] }).items.map((item) => item.name)).toEqual(['shop']);
    expect(get.stdout).toMatch(/^name:\s+shop$/m);
    expect(get.stdout).toMatch(/^db\s+svc$/m);
    expect(status.stdout).toMatch(/^deployable:\s+shop \(version 1\)$/m);
    expect(status.stdout).toMatch(/^ASSEMBLY\s+INSTANCE\s+ADDRESSES\s+STATE\s+RESOURCES\s+MAINTENANCE$/m);
    expect(status.stdout).toContain('open incidents: none');
    expect(JSON.parse(statusJson.stdout)).toMatchObject({ deployable: { name: 'shop', desired: 'stopped' }, assemblies: [{ name: 'db' }], openIncidents: [] });
  });

  it('starts a deployable, shows its instance, addresses and liveness, watches it, and stops it', async () => {
    expect((await defib(['start', 'shop'])).stdout).toBe('deployable shop: start requested (defib status shop --watch to follow it)\n');
    // The registry's status is a projection of the monitor's and recovery's events: wait until it has the running VM.
    await waitFor(
      async () => {
        const status = await world.registry.json<{ assemblies: { observed: string; addresses: unknown[] }[] }>('GET', '/v1/deployables/shop/status', 200);
        return status.assemblies.every((assembly) => assembly.observed === 'running' && assembly.addresses.length > 0) ? true : undefined;
      },
      { what: 'shop running in the registry', timeoutMs: 20_000 },
    );
    const status = await defib(['status', 'shop']);
    expect(status.stdout).toMatch(/^observed:\s+running/m);
    expect(status.stdout).toMatch(/^db\s+\S+\s+\d+\.\d+\.\d+\.\d+\s+running\s+svc:\S+\s+-$/m);
    const watcher = launch(['status', 'shop', '--watch', '--interval', '0.2']);
    let watched = '';
    watcher.stdout?.on('data', (chunk: Buffer) => (watched += chunk.toString('utf8')));
    try {
      // Not a terminal: each redraw is appended, not drawn over.
      await waitFor(() => (watched.split('deployable:').length > 2 ? true : undefined), { what: 'a second redraw', timeoutMs: 10_000 });
    } finally {
      watcher.kill('SIGTERM');
      await once(watcher, 'close');
    }
    expect(watched).not.toContain('\x1b[2J');
    expect(await defib(['stop', 'shop'])).toMatchObject({ code: 0, stdout: 'deployable shop: stop requested (defib status shop --watch to follow it)\n' });
  }, 30_000);

  it('puts a deployable and one assembly in maintenance and ends it', async () => {
    expect((await defib(['maintenance', 'on', 'shop', '--reason', 'upgrade'])).stdout).toMatch(/^deployable shop: in maintenance since \S+ \S+ until ended \(upgrade\)\n$/);
    expect((await defib(['maintenance', 'on', 'shop', '--assembly', 'db', '--for', '30m'])).stdout).toMatch(/^assembly shop\/db: in maintenance since .* until \d{4}-/);
    expect((await defib(['status', 'shop'])).stdout).toMatch(/^maintenance:\s+since .*\(upgrade\)$/m);
    expect((await defib(['maintenance', 'off', 'shop'])).stdout).toBe('deployable shop: not in maintenance\n');
    expect(await defib(['maintenance', 'off', 'shop'])).toMatchObject({ code: 3, stdout: '' });
  });

  it('prints a bad manifest\'s problems one line per issue, naming the file, field and line, and exits 2', async () => {
    const bad = file('bad.yaml', stringify({ ...manifestOf('broken', [assemblyOf('db', { heartbeat: { interval: 'soon', missed: 3 } })]), colour: 'blue' }));
    const brokenFile = file('broken.yaml', 'name: x\nassemblies: [\n');
    const absentFile = join(directory, 'absent.yaml');
    const [refused, broken, absent] = await Promise.all([defib(['apply', '-f', bad]), defib(['apply', '-f', brokenFile]), defib(['apply', '-f', absentFile])]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    const lines = refused.stderr.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line.startsWith(`${bad}:`)).toBe(true);
    expect(refused.stderr).toMatch(/:\d+: assemblies\[0\]\.heartbeat\.interval: /);
    expect(refused.stderr).toMatch(/:\d+: colour: /);

    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(new RegExp(`^${brokenFile}:\\d+: .+\\n$`));
    expect(absent).toEqual({ code: 2, stdout: '', stderr: `defib: ${absentFile}: no such file\n` });
  });

  it('says in one line what was not found, and exits 3', async () => {
    const missing = await defib(['get', 'deployable', 'nope']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^defib: .*nope.*\n$/);
  });

  it('names a service that does not answer, and how to start Defib', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as { port: number };
    closed.close();
    await once(closed, 'close');
    const url = `http://127.0.0.1:${port}`;
    expect(await defib(['incidents'], { DEFIB_RECOVERY_URL: url })).toEqual({ code: 1, stdout: '', stderr: `defib: the recovery service does not answer at ${url} (is Defib running? ./defib start)\n` });
  });

  it('lists the event log, and follows it as new events arrive', async () => {
    const [listed, json] = await Promise.all([defib(['events', '--type', 'deployable.*']), defib(['events', '-o', 'json', '--deployable', 'shop', '--type', 'deployable.applied'])]);
    expect(listed.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}deployable\.applied {2}shop/m);
    const applied = json.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { type: string; subject: { deployable: string } });
    expect(applied).toEqual([expect.objectContaining({ type: 'deployable.applied', subject: expect.objectContaining({ deployable: 'shop' }) as unknown })]);

    const follower = launch(['events', '--follow', '--interval', '0.2', '--type', 'deployable.maintenance-entered,deployable.applied']);
    let seen = '';
    follower.stdout?.on('data', (chunk: Buffer) => (seen += chunk.toString('utf8')));
    try {
      await waitFor(() => (seen.includes('deployable.applied') ? true : undefined), { what: 'the applied event', timeoutMs: 10_000 });
      const before = seen.split('deployable.maintenance-entered').length;
      await defib(['maintenance', 'on', 'shop']);
      await waitFor(() => (seen.split('deployable.maintenance-entered').length > before ? true : undefined), { what: 'the new event followed', timeoutMs: 10_000 });
    } finally {
      follower.kill('SIGTERM');
      await once(follower, 'close');
      await defib(['maintenance', 'off', 'shop']);
    }
    expect(new Set(seen.trimEnd().split('\n')).size).toBe(seen.trimEnd().split('\n').length);
  });

  it('creates, lists and deletes a subscription, showing its secret once', async () => {
    const created = await defib(['subscriptions', 'create', '--webhook', 'http://127.0.0.1:9/hook', '--events', 'assembly.*,recovery.*', '--name', 'pager']);
    expect(created.code).toBe(0);
    const id = /^subscription (\S+) created$/m.exec(created.stdout)?.[1] ?? '';
    expect(created.stdout).toMatch(/^signing secret \(shown only now\): whsec_\S+$/m);
    const listed = await defib(['subscriptions', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+webhook\\s+pager\\s+http://127.0.0.1:9/hook\\s+assembly\\.\\*,recovery\\.\\*\\s+all\\s+yes$`, 'm'));
    expect(listed.stdout).not.toContain('whsec_');
    expect(await defib(['subscriptions', 'delete', id])).toEqual({ code: 0, stdout: `subscription ${id} deleted\n`, stderr: '' });
    expect((await defib(['subscriptions', 'list'])).stdout).toBe('no subscriptions\n');
    const refused = await defib(['subscriptions', 'create', '--webhook', 'ftp://example.com']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.split('\n')[0]).toMatch(/^defib: /);
  });

  it('answers --help for every command, and bad usage with one line and exit 2', async () => {
    const written: string[] = [];
    const io = { env: {}, write: (text: string) => void written.push(text), writeError: (text: string) => void written.push(text), interactive: false };
    const paths: string[][] = [];
    const walk = (command: Command, prefix: string[]) => {
      for (const sub of command.commands) {
        paths.push([...prefix, sub.name()]);
        walk(sub, [...prefix, sub.name()]);
      }
    };
    walk(buildProgram(io, () => undefined), []);
    expect(paths.length).toBeGreaterThanOrEqual(20);
    for (const path of [[], ...paths]) {
      written.length = 0;
      expect(await runCli([...path, '--help'], io)).toBe(0);
      expect(written.join('')).toMatch(new RegExp(`^Usage: defib${path.map((part) => ` ${part}`).join('')} `));
    }
    expect(await defib(['status'])).toEqual({ code: 2, stdout: '', stderr: "defib: missing required argument 'name'\n" });
  });

  it('never prints the token', () => {
    expect(outputs.join('\n')).not.toContain(ADMIN_TOKEN);
  });
});

/** The URL of the world's first recovery replica (its API client knows it). */
async function recoveryUrl(world: RecoveryWorld): Promise<string> {
  const response = await world.recoveryApi.request('GET', '/healthz');
  return new URL(response.url).origin;
}
