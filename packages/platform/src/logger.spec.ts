import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runWithCorrelation } from './context.ts';
import { createLogger, redactUrl } from './logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ service: 'spec', level: 'info', destination }) };
}

describe('logging', () => {
  it('writes JSON lines naming the service and the correlation id of the work in progress', () => {
    const { lines, logger } = capture();
    runWithCorrelation('incident-42', () => logger.info('recovering'));
    logger.info('outside');
    expect(lines[0]).toMatchObject({ level: 'info', service: 'spec', correlationId: 'incident-42', msg: 'recovering' });
    expect(lines[1]?.correlationId).toBeUndefined();
  });

  it('redacts secret-bearing fields', () => {
    const { lines, logger } = capture();
    logger.info({ password: 'p4ss', credentials: { secretAccessKey: 'k3y' }, cloud: { token: 't0k' } }, 'registering');
    const text = JSON.stringify(lines);
    for (const secret of ['p4ss', 'k3y', 't0k']) expect(text).not.toContain(secret);
  });

  it('logs an error as its type, message, code and stack, never the objects a driver hangs on it', () => {
    const { lines, logger } = capture();
    const error = Object.assign(new Error('terminating connection'), { code: '57P01', client: { connectionParameters: { password: 'db-pass' } } });
    logger.warn({ err: error }, 'connection failed');
    expect(lines[0]?.err).toMatchObject({ type: 'Error', message: 'terminating connection', code: '57P01' });
    expect(JSON.stringify(lines)).not.toContain('db-pass');
  });

  it('removes the password from a URL before it is shown', () => {
    expect(redactUrl('amqp://guest:guest@broker:5672/vhost')).toBe('amqp://guest:redacted@broker:5672/vhost');
    expect(redactUrl('not a url')).toBe('[unparseable url]');
  });
});
