import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { DatabaseUnavailableError, isDatabaseUnavailable, retryWhileDatabaseUnavailable } from './database-availability.ts';

const logger = createLogger({ service: 'availability-spec', level: 'silent' });
const pgError = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['a killed backend (57P01)', pgError('57P01', 'terminating connection due to administrator command')],
    ['a server starting up (57P03)', pgError('57P03', 'the database system is starting up')],
    ['a connection exception (class 08)', pgError('08006')],
    ['a refused socket', pgError('ECONNREFUSED')],
    ['a reset socket', pgError('ECONNRESET')],
    ['a connection that died under its query', new Error('Connection terminated unexpectedly')],
    ['a client used after its connection died', new Error('Client has encountered a connection error and is not queryable')],
    ['a pool that could not connect in time', new Error('timeout exceeded when trying to connect')],
    ['a connection that could not be had', new DatabaseUnavailableError(pgError('55000'))],
    ['an unavailable cause behind a wrapper', new Error('rollback failed', { cause: pgError('57P01') })],
  ])('says yes to %s', (_what, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation', pgError('23505')],
    ['a syntax error', pgError('42601')],
    ['a plain bug', new TypeError('x is undefined')],
    ['a non-error', 'nope'],
    ['nothing', undefined],
  ])('says no to %s', (_what, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });

  it('carries the code of what refused the connection', () => {
    expect(new DatabaseUnavailableError(pgError('ECONNREFUSED')).code).toBe('ECONNREFUSED');
  });
});

describe('retryWhileDatabaseUnavailable', () => {
  it('runs the work again while the database is unavailable, and returns its result once it goes through', async () => {
    let tries = 0;
    const result = await retryWhileDatabaseUnavailable(
      () => {
        tries += 1;
        return tries < 4 ? Promise.reject(pgError('57P03')) : Promise.resolve('done');
      },
      { logger, what: 'spec work', initialDelayMs: 1, maxDelayMs: 2 },
    );
    expect(result).toBe('done');
    expect(tries).toBe(4);
  });

  it('throws any other error at once', async () => {
    let tries = 0;
    const failing = () => {
      tries += 1;
      return Promise.reject(pgError('23505'));
    };
    await expect(retryWhileDatabaseUnavailable(failing, { logger, what: 'spec work', initialDelayMs: 1 })).rejects.toMatchObject({ code: '23505' });
    expect(tries).toBe(1);
  });

  it('gives up with the outage error once told to stop', async () => {
    let tries = 0;
    const failing = () => {
      tries += 1;
      return Promise.reject(pgError('ECONNREFUSED'));
    };
    await expect(retryWhileDatabaseUnavailable(failing, { logger, what: 'spec work', initialDelayMs: 1, shouldContinue: () => tries < 3 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(tries).toBe(3);
  });
});
