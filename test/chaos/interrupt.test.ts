/**
 * Ctrl-C in the middle of a drill, as a user presses it: `pnpm drill` gets SIGINT once faults are
 * in flight, stops every process it started, removes its database, exchanges and queues, says so,
 * and exits 130.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { busNames, openBrokerConnection, processEnvironment } from '@defib/platform';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { waitFor } from '../support/index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Whether the broker still has the exchange or queue (a passive check closes its channel when it does not). */
async function onBroker(amqpUrl: string, kind: 'exchange' | 'queue', name: string): Promise<boolean> {
  const connection = await openBrokerConnection(amqpUrl, { connectionName: 'defib-interrupt-test' });
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    const check = kind === 'exchange' ? channel.checkExchange(name) : channel.checkQueue(name);
    return await check.then(
      () => true,
      () => false,
    );
  } finally {
    await connection.close().catch(() => undefined);
  }
}

describe('a drill interrupted with Ctrl-C', () => {
  it('stops every process it started, leaves no database, exchange or queue behind, and exits 130', async () => {
    const { databaseUrl, amqpUrl } = inject('infrastructure');
    const outDir = mkdtempSync(join(tmpdir(), 'defib-drill-interrupt-'));
    const drill = spawn(process.execPath, [join(root, 'packages/drill/src/main.ts'), 'default', '--out', outDir], {
      env: { PATH: processEnvironment().PATH ?? '', DEFIB_ENV_FILE: '', DATABASE_URL: databaseUrl, AMQP_URL: amqpUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let stderr = '';
    drill.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    createInterface({ input: drill.stdout }).on('line', (line) => lines.push(line));
    const exited = once(drill, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

    const place = await waitFor(() => /running on database (\S+), bus prefix (\S+) /.exec(lines.join('\n')) ?? undefined, { what: 'the drill to say where it runs', timeoutMs: 120_000 });
    const [, database = '', prefix = ''] = place;
    await waitFor(() => (lines.some((line) => line.endsWith(': injected')) ? true : undefined), { what: 'the first fault in flight', timeoutMs: 120_000 });
    const names = busNames(prefix);
    expect(await onBroker(amqpUrl, 'exchange', names.eventsExchange)).toBe(true);

    drill.kill('SIGINT');
    const [code] = await exited;
    expect(code, `${lines.join('\n')}\n${stderr}`).toBe(130);
    expect(stderr).toMatch(/interrupted; stopping every process it started/);
    expect(stderr).toMatch(/every process it started was stopped and its database and queues removed/);

    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    try {
      expect((await admin.query('select 1 from pg_database where datname = $1', [database])).rowCount).toBe(0);
    } finally {
      await admin.end();
    }
    for (const exchange of [names.eventsExchange, names.agentsExchange]) expect(await onBroker(amqpUrl, 'exchange', exchange), exchange).toBe(false);
    for (const queue of ['registry', 'monitor', 'recovery', 'notifier'].map(names.consumerQueue)) expect(await onBroker(amqpUrl, 'queue', queue), queue).toBe(false);
    // Every part was asked to stop, and did.
    for (const part of ['simulator', 'registry', 'monitor', 'recovery', 'notifier']) {
      expect(readFileSync(join(outDir, 'logs', `${part}-1.log`), 'utf8'), part).toMatch(/"msg":"shutting down"/);
    }
  }, 300_000);
});
