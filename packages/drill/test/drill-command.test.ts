/**
 * `pnpm drill` refuses what it cannot run before starting anything: one clear error for a bad
 * scenario (file, field and line; exit 2), an unknown one (the scenarios there are; exit 2), and
 * an unreachable PostgreSQL or RabbitMQ (which one, and how to start it; exit 1).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processEnvironment } from '@defib/platform';
import { describe, expect, inject, it } from 'vitest';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

function drill(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { databaseUrl, amqpUrl } = inject('infrastructure');
  const child = spawn(process.execPath, [main, ...args], { env: { PATH: processEnvironment().PATH ?? '', DEFIB_ENV_FILE: '', DATABASE_URL: databaseUrl, AMQP_URL: amqpUrl, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('pnpm drill', () => {
  it('explains itself with --help', async () => {
    const answer = await drill(['--help']);
    expect(answer.code).toBe(0);
    expect(answer.stdout).toMatch(/^usage: pnpm drill \[scenario\] \[--out DIR\]/);
  });

  it('names the file, field and line of a bad scenario in one error, and exits 2', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'defib-drill-command-')), 'bad.yaml');
    writeFileSync(file, 'name: bad\nclouds: [{ name: sim-ec2 }]\ndeployables: [{ file: missing.yaml }]\n');
    const answer = await drill([file]);
    expect(answer).toMatchObject({ code: 2, stdout: '' });
    expect(answer.stderr).toMatch(new RegExp(`^drill: invalid ${file}: deployables\\[0\\]\\.file: no such file: .*missing\\.yaml \\(line 3\\)\\n$`));
  });

  it('lists the scenarios there are when asked for one that is not', async () => {
    const answer = await drill(['no-such-drill']);
    expect(answer.code).toBe(2);
    expect(answer.stderr).toMatch(/no scenario named "no-such-drill"; the scenarios in .*drills are .*default.*host-failure/);
  });

  it('says which of PostgreSQL and RabbitMQ does not answer and how to start it, before starting anything, and exits 1', async () => {
    const answer = await drill(['gave-up'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' });
    expect(answer.code).toBe(1);
    expect(answer.stderr).toMatch(/^drill: PostgreSQL does not answer at 127\.0\.0\.1:1 \(DATABASE_URL\): start it .*\n$/);
    expect(answer.stdout).toBe('');
  });
});
