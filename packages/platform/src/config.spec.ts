import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agentSecretVariable, ConfigError, loadConfig, serviceEnvironmentShape, toServiceConfig, withEnvFile } from './config.ts';

const schema = z.object({
  ...serviceEnvironmentShape(7101),
  DEFIB_SECRET_KEY: z.string().length(44, 'must be 32 bytes, base64-encoded'),
});

function load(env: Record<string, string | undefined>) {
  return loadConfig(schema, env);
}

describe('config loading', () => {
  it('applies the defaults the brief sets for a service', () => {
    const config = toServiceConfig(load({ DEFIB_SECRET_KEY: 'k'.repeat(44) }));
    expect(config).toMatchObject({
      port: 7101,
      host: '127.0.0.1',
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
      busPrefix: 'defib',
      logLevel: 'info',
      auth: { adminToken: undefined, readTokens: [], serviceTokens: [], openReads: false },
    });
  });

  it('reads every variable it knows', () => {
    const config = toServiceConfig(
      load({
        PORT: '9000',
        DATABASE_URL: 'postgresql://defib@db:5432/defib',
        AMQP_URL: 'amqps://u:p@broker/vhost',
        DEFIB_ADMIN_TOKEN: 'admin-token-0123456789',
        DEFIB_READ_TOKENS: 'reader-token-0123456789, second-reader-token-01',
        DEFIB_SERVICE_TOKENS: 'service-token-0123456789',
        DEFIB_OPEN_READS: 'true',
        DEFIB_SECRET_KEY: 'k'.repeat(44),
      }),
    );
    expect(config.port).toBe(9000);
    expect(config.auth).toEqual({
      adminToken: 'admin-token-0123456789',
      readTokens: ['reader-token-0123456789', 'second-reader-token-01'],
      serviceTokens: ['service-token-0123456789'],
      openReads: true,
    });
  });

  it('reports every bad or missing variable in one error', () => {
    let caught: unknown;
    try {
      load({ PORT: 'eighty', DATABASE_URL: 'mysql://x', AMQP_URL: 'http://broker', DEFIB_OPEN_READS: 'perhaps', DEFIB_ADMIN_TOKEN: 'short' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems.map((problem) => problem.variable).sort()).toEqual(['AMQP_URL', 'DATABASE_URL', 'DEFIB_ADMIN_TOKEN', 'DEFIB_OPEN_READS', 'DEFIB_SECRET_KEY', 'PORT']);
    expect(problems.find((problem) => problem.variable === 'DEFIB_SECRET_KEY')?.message).toBe('is required');
    expect((caught as ConfigError).message).toContain('PORT:');
  });

  it('treats an empty variable as unset', () => {
    expect(load({ PORT: '', DEFIB_SECRET_KEY: 'k'.repeat(44) }).PORT).toBe(7101);
  });

  it('never echoes a bad secret value in its error', () => {
    expect(() => load({ DEFIB_ADMIN_TOKEN: 'tiny-secret' })).toThrow(ConfigError);
    try {
      load({ DEFIB_ADMIN_TOKEN: 'tiny-secret' });
    } catch (error) {
      expect((error as Error).message).not.toContain('tiny-secret');
    }
  });
});

describe('agent secret', () => {
  const schema = z.object({ DEFIB_AGENT_SECRET: agentSecretVariable });

  it('is at least 32 random bytes in base64, given to the services as bytes', () => {
    const secret = Buffer.alloc(32, 9);
    expect(loadConfig(schema, { DEFIB_AGENT_SECRET: secret.toString('base64') }).DEFIB_AGENT_SECRET).toEqual(secret);
  });

  it('refuses a short or non-base64 secret without echoing it', () => {
    for (const value of [Buffer.alloc(16).toString('base64'), 'not base64 at all!']) {
      let caught: unknown;
      try {
        loadConfig(schema, { DEFIB_AGENT_SECRET: value });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).problems).toEqual([{ variable: 'DEFIB_AGENT_SECRET', message: 'must be at least 32 random bytes, base64-encoded (openssl rand -base64 32)' }]);
      expect((caught as Error).message).not.toContain(value);
    }
  });
});

describe('the settings file (.env)', () => {
  function envFile(text: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'defib-env-'));
    const file = join(dir, '.env');
    writeFileSync(file, text);
    return file;
  }

  it('fills in what the environment does not set, and the real environment wins', () => {
    const file = envFile('# written by ./defib\nDEFIB_ADMIN_TOKEN=from-the-file-0123456789\nLOG_LEVEL="debug"\nPORT=7999\n');
    const env = withEnvFile({ PORT: '0' }, file);
    expect(env).toMatchObject({ DEFIB_ADMIN_TOKEN: 'from-the-file-0123456789', LOG_LEVEL: 'debug', PORT: '0' });
    expect(toServiceConfig(load({ ...env, DEFIB_SECRET_KEY: 'k'.repeat(44) }))).toMatchObject({ port: 0, logLevel: 'debug', auth: { adminToken: 'from-the-file-0123456789' } });
  });

  it('adds nothing when the file is absent or none is wanted', () => {
    expect(withEnvFile({ PORT: '1' }, join(tmpdir(), 'no-such-dir-defib', '.env'))).toEqual({ PORT: '1' });
    expect(withEnvFile({ PORT: '1' }, '')).toEqual({ PORT: '1' });
  });
});
