import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DatabaseUnavailableError } from '../database-availability.ts';
import { AppError } from './errors.ts';
import { PROBLEM_TYPE_BASE, toProblem } from './problem.ts';

const context = { instance: '/v1/clouds/sim', correlationId: 'corr-1' };

/** An error shaped like the http-errors that body-parser and express raise. */
function httpError(message: string, fields: Record<string, unknown>, base: Error = new Error(message)): Error {
  return Object.assign(base, fields);
}

describe('problem mapper', () => {
  it('answers an AppError with its status, code, message, path and correlation id', () => {
    const problem = toProblem(AppError.notFound('cloud', 'sim'), context);
    expect(problem.status).toBe(404);
    expect(problem.body).toEqual({
      type: `${PROBLEM_TYPE_BASE}not_found`,
      title: 'Not found',
      status: 404,
      detail: 'cloud "sim" not found',
      instance: '/v1/clouds/sim',
      code: 'not_found',
      correlationId: 'corr-1',
    });
  });

  it('lists the issues of a validation error, each naming its field', () => {
    const problem = toProblem(AppError.validation([{ path: 'assemblies[1].image', message: 'is required' }]), context);
    expect(problem.status).toBe(400);
    expect(problem.body.code).toBe('validation_failed');
    expect(problem.body.issues).toEqual([{ path: 'assemblies[1].image', message: 'is required' }]);
    expect(problem.body.detail).toContain('assemblies[1].image');
  });

  it('turns a zod error into validation_failed, naming unknown fields one by one', () => {
    const schema = z.strictObject({ name: z.string(), assemblies: z.array(z.object({ image: z.string() })) });
    const result = schema.safeParse({ name: 'wp', colour: 'red', assemblies: [{ image: 'f40' }, {}] });
    expect(result.success).toBe(false);
    const problem = toProblem(result.error, context);
    expect(problem.status).toBe(400);
    expect(problem.body.issues).toEqual(
      expect.arrayContaining([
        { path: 'colour', message: 'unknown field' },
        { path: 'assemblies[1].image', message: 'is required' },
      ]),
    );
  });

  it('answers an oversize body from body-parser with 413 and the limit', () => {
    const problem = toProblem(httpError('request entity too large', { status: 413, type: 'entity.too.large', limit: 1024, expose: true }), context);
    expect(problem.status).toBe(413);
    expect(problem.body.code).toBe('payload_too_large');
    expect(problem.body.detail).toContain('1024');
  });

  it('answers malformed JSON from body-parser with 400 without quoting the input', () => {
    const parseError = httpError(
      'x',
      { status: 400, type: 'entity.parse.failed', expose: true },
      new SyntaxError(`Unexpected token '}', "{"password":}" is not valid JSON`),
    );
    const problem = toProblem(parseError, context);
    expect(problem.status).toBe(400);
    expect(problem.body.code).toBe('bad_request');
    expect(problem.body.detail).toMatch(/^malformed JSON body: Unexpected token/);
    expect(problem.body.detail).not.toContain('password');
  });

  it('drops the quoted input from a truncated JSON error too', () => {
    const parseError = httpError('x', { status: 400, type: 'entity.parse.failed' }, new SyntaxError(`Unexpected token 'h', ..."assword": hunter2}" is not valid JSON`));
    expect(toProblem(parseError, context).body.detail).toBe("malformed JSON body: Unexpected token 'h'");
  });

  it('answers an unsupported charset with 415', () => {
    const problem = toProblem(httpError('unsupported charset "LATIN1"', { status: 415, type: 'charset.unsupported', charset: 'latin1', expose: true }), context);
    expect(problem.status).toBe(415);
    expect(problem.body.code).toBe('unsupported_media_type');
    expect(problem.body.detail).toContain('LATIN1');
  });

  it('answers a 4xx http error from express (a badly encoded path) with its status', () => {
    const problem = toProblem(httpError("Failed to decode param '%E0%A4%A'", { status: 400, expose: true }, new URIError("Failed to decode param '%E0%A4%A'")), context);
    expect(problem.status).toBe(400);
    expect(problem.body.code).toBe('bad_request');
  });

  it('hides the details of an unexpected error behind a generic 500 that quotes the correlation id', () => {
    const problem = toProblem(new Error('connect to postgres://defib:hunter2@db failed'), context);
    expect(problem.status).toBe(500);
    expect(problem.body.code).toBe('internal');
    expect(problem.body.detail).toMatch(/unexpected error/i);
    expect(problem.body.correlationId).toBe('corr-1');
    const serialised = JSON.stringify(problem.body);
    expect(serialised).not.toContain('hunter2');
    expect(serialised).not.toContain('at ');
    expect(problem.error.cause).toBeInstanceOf(Error);
  });

  it('answers a database outage with 503 and Retry-After, never quoting the driver', () => {
    const killed = Object.assign(new Error('terminating connection due to administrator command at postgres://defib:hunter2@db'), { code: '57P01' });
    for (const thrown of [killed, new DatabaseUnavailableError(killed)]) {
      const problem = toProblem(thrown, context);
      expect(problem.status).toBe(503);
      expect(problem.body.code).toBe('unavailable');
      expect(problem.headers['Retry-After']).toBe('2');
      expect(problem.body.detail).toMatch(/database is unavailable/);
      expect(JSON.stringify(problem.body)).not.toContain('hunter2');
    }
  });

  it('treats a bare SyntaxError as a bug, not as bad input', () => {
    expect(toProblem(new SyntaxError('Unexpected token'), context).status).toBe(500);
  });

  it('answers a thrown non-error value with a 500', () => {
    expect(toProblem('oops', context).status).toBe(500);
    expect(toProblem(undefined, context).status).toBe(500);
  });

  it('hides the message of a 5xx AppError unless it is marked safe to show', () => {
    const hidden = toProblem(AppError.unavailable('broker amqp://guest:guest@rabbit unreachable'), context);
    expect(hidden.status).toBe(503);
    expect(hidden.body.detail).not.toContain('guest');
    const shown = toProblem(AppError.unavailable('the database is not reachable', { expose: true }), context);
    expect(shown.body.detail).toBe('the database is not reachable');
  });

  it('never shows the message of a 5xx http error', () => {
    const problem = toProblem(httpError('internal path /srv/secret', { status: 500, expose: false }), context);
    expect(problem.status).toBe(500);
    expect(problem.body.detail).not.toContain('/srv/secret');
  });

  it('carries the headers an error requires', () => {
    expect(toProblem(AppError.unauthorized('a bearer token is required'), context).headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="defib"' });
    expect(toProblem(AppError.methodNotAllowed('POST', ['GET', 'HEAD']), context).headers).toEqual({ Allow: 'GET, HEAD' });
  });
});
