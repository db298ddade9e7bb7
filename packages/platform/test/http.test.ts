/**
 * The HTTP bootstrap on a real server: every kind of bad input gets a problem+json 4xx, nothing
 * gets a 500 except a genuine bug (which hides its details and leaves the process serving).
 */
import { request as httpRequest } from 'node:http';
import express, { type ErrorRequestHandler } from 'express';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { currentCorrelationId } from '../src/context.ts';
import { createLogger } from '../src/logger.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { AppError, createHttpApp, defineRoute, startHttpServer, type HttpAppOptions, type RunningHttpServer } from '../src/http/index.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const BODY_LIMIT = 2048;

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

const thingName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes');

const manifestSchema = z.strictObject({
  name: thingName,
  assemblies: z.array(z.strictObject({ name: thingName, image: z.string(), dependsOn: z.array(z.string()).default([]) })).min(1),
});

/** A body parser with a semantic check a schema cannot express, as the registry's manifest parser will have. */
const manifestParser = {
  parse(raw: unknown) {
    const manifest = manifestSchema.parse(raw);
    const names = new Set(manifest.assemblies.map((assembly) => assembly.name));
    const issues = manifest.assemblies.flatMap((assembly, index) =>
      assembly.dependsOn.flatMap((dependency, position) =>
        names.has(dependency) ? [] : [{ path: `assemblies[${index}].dependsOn[${position}]`, message: `no assembly named "${dependency}"` }],
      ),
    );
    if (issues.length > 0) throw AppError.validation(issues);
    return manifest;
  },
  jsonSchema: z.toJSONSchema(manifestSchema, { io: 'input' }),
};

interface TestServer {
  url: string;
  logs: string[];
  server: RunningHttpServer;
  control: { ready: boolean; slowEntered: Deferred; slowRelease: Deferred };
}

async function startTestServer(overrides: Partial<HttpAppOptions> & { shutdownGraceMs?: number } = {}): Promise<TestServer> {
  const logs: string[] = [];
  const logger = createLogger({ service: 'http-test', level: 'debug', destination: { write: (line: string) => void logs.push(line) } });
  const control = { ready: true, slowEntered: deferred(), slowRelease: deferred() };
  const routes = [
    defineRoute({
      method: 'get',
      path: '/v1/things/:name',
      operationId: 'getThing',
      summary: 'Read a thing',
      tags: ['things'],
      scope: 'read',
      params: z.object({ name: thingName }),
      query: z.object({ limit: z.coerce.number().int().min(1).max(100).optional() }),
      responses: { 200: { description: 'The thing', schema: z.object({ name: z.string(), limit: z.number().optional() }) } },
      // params and query are typed from their schemas: `limit` is a number here.
      handler: ({ params, query, auth }) => ({ status: 200, body: { name: params.name, limit: query.limit, principal: auth.principal } }),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/things/:name',
      operationId: 'putThing',
      summary: 'Store a thing',
      tags: ['things'],
      scope: 'write',
      params: z.object({ name: thingName }),
      body: z.strictObject({ image: z.string(), replicas: z.number().int().min(1).optional() }),
      responses: { 200: { description: 'Stored' } },
      handler: ({ params, body }) => ({ status: 200, body: { name: params.name, image: body.image, replicas: body.replicas ?? 1 } }),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/manifests/:name',
      operationId: 'applyManifest',
      summary: 'Apply a manifest (JSON or YAML)',
      scope: 'write',
      body: manifestParser,
      bodyFormats: ['json', 'yaml'],
      responses: { 200: { description: 'Applied' } },
      handler: ({ body }) => ({ status: 200, body: { name: body.name, assemblies: body.assemblies.map((assembly) => assembly.name) } }),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/boom',
      operationId: 'boom',
      summary: 'Fails like a bug',
      scope: 'public',
      responses: {},
      handler: async () => {
        await Promise.resolve();
        throw new Error('cannot read properties of undefined (reading "rows")');
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/boom-sync',
      operationId: 'boomSync',
      summary: 'Fails synchronously',
      scope: 'public',
      responses: {},
      handler: () => {
        throw new TypeError('sync failure');
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/slow',
      operationId: 'slow',
      summary: 'Answers when the test says so',
      scope: 'public',
      responses: { 200: { description: 'Done' } },
      handler: async () => {
        control.slowEntered.resolve();
        await control.slowRelease.promise;
        return { status: 200, body: { done: true } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/whoami',
      operationId: 'whoami',
      summary: 'Echoes the correlation id the handler runs under',
      scope: 'public',
      responses: { 200: { description: 'The ids' } },
      handler: ({ correlationId }) => ({ status: 200, body: { correlationId, fromContext: currentCorrelationId() } }),
    }),
  ];
  const app = createHttpApp({
    service: 'http-test',
    version: '1.2.3',
    logger,
    auth: { adminToken: ADMIN, readTokens: [READER], openReads: false },
    bodyLimitBytes: BODY_LIMIT,
    routes,
    readiness: [
      {
        name: 'database',
        check: () => {
          if (control.ready) return Promise.resolve();
          return Promise.reject(Object.assign(new Error('connect ECONNREFUSED postgres://defib:hunter2@db:5432'), { code: 'ECONNREFUSED' }));
        },
      },
    ],
    metrics: new Registry(),
    openapi: { title: 'HTTP test service', description: 'Routes for testing the bootstrap' },
    ...overrides,
  });
  const server = await startHttpServer(app, { port: 0, logger, shutdownGraceMs: overrides.shutdownGraceMs ?? 5_000 });
  return { url: server.url, logs, server, control };
}

const admin = { authorization: `Bearer ${ADMIN}` };
const reader = { authorization: `Bearer ${READER}` };

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: Record<string, unknown> = {};
  if (text !== '' && /json/.test(response.headers.get('content-type') ?? '')) body = JSON.parse(text) as Record<string, unknown>;
  return { status: response.status, headers: response.headers, body };
}

function expectProblem(answer: Answer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(answer.body).toMatchObject({ status, code, type: `https://defib.dev/problems/${code}` });
  expect(answer.body.correlationId).toBe(answer.headers.get('x-correlation-id'));
}

describe('HTTP bootstrap', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    t.control.slowRelease.resolve();
    await t.server.close();
  });

  describe('operations endpoints', () => {
    it('answers /healthz while the process is alive', async () => {
      const answer = await call(`${t.url}/healthz`);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ status: 'ok' });
    });

    it('answers /readyz 200 with each check, then 503 naming the failed one without its message', async () => {
      const ready = await call(`${t.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ status: 'ready', checks: { database: { status: 'ok' } } });

      t.control.ready = false;
      try {
        const response = await fetch(`${t.url}/readyz`);
        const text = await response.text();
        expect(response.status).toBe(503);
        expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(text)).toMatchObject({ status: 503, detail: 'not ready: database', checks: { database: { status: 'failed', reason: 'ECONNREFUSED' } } });
        expect(text).not.toContain('hunter2');
        expect(t.logs.join('')).not.toContain('hunter2');
      } finally {
        t.control.ready = true;
      }
    });

    it('serves Prometheus metrics with the request histogram and process metrics', async () => {
      await call(`${t.url}/v1/things/alpha`, { headers: reader });
      const response = await fetch(`${t.url}/metrics`);
      const text = await response.text();
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(text).toMatch(/http_request_duration_seconds_bucket\{[^}]*method="GET"[^}]*route="\/v1\/things\/:name"[^}]*status="200"/);
      expect(text).toContain('process_cpu_user_seconds_total');
    });

    it('describes every route in an OpenAPI 3.1 document generated from the schemas', async () => {
      const { status, body: document } = await call(`${t.url}/openapi.json`);
      expect(status).toBe(200);
      expect(document).toMatchObject({ openapi: '3.1.0', info: { title: 'HTTP test service', version: '1.2.3' } });
      const paths = document.paths as Record<string, Record<string, Record<string, unknown>>>;
      expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/openapi.json', '/v1/things/{name}', '/v1/manifests/{name}']));
      const getThing = paths['/v1/things/{name}']?.get;
      expect(getThing).toMatchObject({
        operationId: 'getThing',
        security: [{ bearerAuth: [] }],
        parameters: [
          { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,62}$' } },
          { name: 'limit', in: 'query', required: false },
        ],
      });
      const putThing = paths['/v1/things/{name}']?.put as { requestBody: { content: Record<string, unknown> }; responses: Record<string, unknown> };
      expect(Object.keys(putThing.requestBody.content)).toEqual(['application/json']);
      expect(putThing.responses).toHaveProperty('403');
      const apply = paths['/v1/manifests/{name}']?.put as { requestBody: { content: Record<string, unknown> } };
      expect(Object.keys(apply.requestBody.content)).toEqual(expect.arrayContaining(['application/json', 'application/yaml']));
      expect(paths['/healthz']?.get?.security).toEqual([]);
      expect(document.components).toMatchObject({
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
        schemas: { Problem: { type: 'object' }, putThingBody: { type: 'object', additionalProperties: false } },
      });
    });
  });

  describe('auth', () => {
    it('lets the admin and a reader read', async () => {
      expect((await call(`${t.url}/v1/things/alpha?limit=5`, { headers: admin })).body).toEqual({ name: 'alpha', limit: 5, principal: 'admin' });
      expect((await call(`${t.url}/v1/things/alpha`, { headers: reader })).body).toMatchObject({ name: 'alpha', principal: 'reader' });
    });

    it('refuses a missing token with 401 and a Bearer challenge', async () => {
      const answer = await call(`${t.url}/v1/things/alpha`);
      expectProblem(answer, 401, 'unauthorized');
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer /);
    });

    it('refuses a bad token with 401 invalid_token and never logs it', async () => {
      const answer = await call(`${t.url}/v1/things/alpha`, { headers: { authorization: 'Bearer wrong-token-0000000000' } });
      expectProblem(answer, 401, 'unauthorized');
      expect(answer.headers.get('www-authenticate')).toContain('invalid_token');
      const logged = t.logs.join('');
      expect(logged).not.toContain('wrong-token-0000000000');
      expect(logged).not.toContain(ADMIN);
      expect(logged).not.toContain(READER);
    });

    it('refuses a read token on a write route with 403', async () => {
      const answer = await call(`${t.url}/v1/things/alpha`, { method: 'PUT', headers: { ...reader, 'content-type': 'application/json' }, body: '{"image":"f40"}' });
      expectProblem(answer, 403, 'forbidden');
    });

    it('lets the admin write', async () => {
      const answer = await call(`${t.url}/v1/things/alpha`, { method: 'PUT', headers: { ...admin, 'content-type': 'application/json' }, body: '{"image":"f40","replicas":2}' });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ name: 'alpha', image: 'f40', replicas: 2 });
    });
  });

  describe('bad input', () => {
    const put = (path: string, contentType: string, body: string, headers: Record<string, string> = admin): Promise<Answer> =>
      call(`${t.url}${path}`, { method: 'PUT', headers: { ...headers, 'content-type': contentType }, body });

    it('answers malformed JSON with 400 naming the position, without echoing the input', async () => {
      const answer = await put('/v1/things/alpha', 'application/json', '{"image": "f40", "password": hunter2}');
      expectProblem(answer, 400, 'bad_request');
      expect(answer.body.detail).toMatch(/^malformed JSON body: .*(position|token)/);
      expect(JSON.stringify(answer.body)).not.toContain('hunter2');
    });

    it('answers malformed YAML with 400 naming the line', async () => {
      const answer = await put('/v1/manifests/wp', 'application/yaml', 'name: wp\nassemblies:\n  - name: db\n   image: x\n');
      expectProblem(answer, 400, 'bad_request');
      expect(answer.body.detail).toMatch(/^malformed YAML body at line 4, column 1: /);
    });

    it('accepts YAML where the route allows it', async () => {
      const answer = await put('/v1/manifests/wp', 'application/yaml', 'name: wp\nassemblies:\n  - name: db\n    image: fedora-40\n  - name: web\n    image: fedora-40\n    dependsOn: [db]\n');
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ name: 'wp', assemblies: ['db', 'web'] });
    });

    it('answers a wrong content type with 415 naming the accepted types', async () => {
      const plain = await put('/v1/things/alpha', 'text/plain', 'image=f40');
      expectProblem(plain, 415, 'unsupported_media_type');
      expect(plain.body.detail).toContain('application/json');
      const yamlOnJsonRoute = await put('/v1/things/alpha', 'application/yaml', 'image: f40\n');
      expectProblem(yamlOnJsonRoute, 415, 'unsupported_media_type');
    });

    it('answers an oversize body with 413', async () => {
      const answer = await put('/v1/things/alpha', 'application/json', JSON.stringify({ image: 'x'.repeat(BODY_LIMIT * 2) }));
      expectProblem(answer, 413, 'payload_too_large');
      expect(answer.body.detail).toContain(String(BODY_LIMIT));
    });

    it('answers an oversize chunked body with 413 too', async () => {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = httpRequest(`${t.url}/v1/things/alpha`, { method: 'PUT', headers: { ...admin, 'content-type': 'application/json' } }, (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        });
        request.on('error', reject);
        request.write(`{"image": "${'x'.repeat(BODY_LIMIT)}`);
        request.end(`${'y'.repeat(BODY_LIMIT)}"}`);
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'payload_too_large' });
    });

    it('answers a charset other than UTF-8 and a compressed body with 415', async () => {
      expectProblem(await put('/v1/things/alpha', 'application/json; charset=iso-8859-1', '{"image":"f40"}'), 415, 'unsupported_media_type');
      const gzipped = await call(`${t.url}/v1/things/alpha`, {
        method: 'PUT',
        headers: { ...admin, 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: '{"image":"f40"}',
      });
      expectProblem(gzipped, 415, 'unsupported_media_type');
    });

    it('answers a body that is not UTF-8 with 400', async () => {
      const answer = await call(`${t.url}/v1/things/alpha`, {
        method: 'PUT',
        headers: { ...admin, 'content-type': 'application/json' },
        body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      });
      expectProblem(answer, 400, 'bad_request');
    });

    it('keeps serving when a client goes away in the middle of its body', async () => {
      const request = httpRequest(`${t.url}/v1/things/alpha`, {
        method: 'PUT',
        headers: { ...admin, 'content-type': 'application/json', 'content-length': '1000', 'x-correlation-id': 'gone-midway' },
      });
      request.on('error', () => undefined);
      // Once the first part of the body has left, the client gives up.
      request.write('{"image": "f4', () => request.destroy());
      await waitFor(() => t.logs.find((line) => line.includes('"correlationId":"gone-midway"') && line.includes('"msg":"request"')), { what: 'the access log line of the aborted request' });
      expect((await call(`${t.url}/healthz`)).status).toBe(200);
    });

    it('names an unknown field, a bad path parameter and a bad query parameter', async () => {
      const unknown = await put('/v1/things/alpha', 'application/json', '{"image":"f40","colour":"red"}');
      expectProblem(unknown, 400, 'validation_failed');
      expect(unknown.body.issues).toEqual([{ path: 'colour', message: 'unknown field' }]);

      const both = await put('/v1/things/Not_Valid', 'application/json', '{"replicas":0}');
      expectProblem(both, 400, 'validation_failed');
      expect((both.body.issues as { path: string }[]).map((issue) => issue.path).sort()).toEqual(['image', 'params.name', 'replicas']);

      const query = await call(`${t.url}/v1/things/alpha?limit=1000`, { headers: reader });
      expectProblem(query, 400, 'validation_failed');
      expect(query.body.issues).toEqual([{ path: 'query.limit', message: expect.stringContaining('100') as unknown }]);
    });

    it('names the field a semantic check refused', async () => {
      const answer = await put('/v1/manifests/wp', 'application/json', JSON.stringify({ name: 'wp', assemblies: [{ name: 'db', image: 'f40' }, { name: 'web', image: 'f40', dependsOn: ['dbb'] }] }));
      expectProblem(answer, 400, 'validation_failed');
      expect(answer.body.issues).toEqual([{ path: 'assemblies[1].dependsOn[0]', message: 'no assembly named "dbb"' }]);
    });

    it('says the body is required when it is missing', async () => {
      const answer = await call(`${t.url}/v1/things/alpha`, { method: 'PUT', headers: admin });
      expectProblem(answer, 400, 'validation_failed');
      expect(answer.body.issues).toEqual([{ path: 'body', message: expect.stringContaining('required') as unknown }]);
    });

    it('refuses a duplicate JSON key, naming it', async () => {
      const answer = await put('/v1/things/alpha', 'application/json', '{"image":"a","image":"b"}');
      expectProblem(answer, 400, 'bad_request');
      expect(answer.body.issues).toEqual([{ path: 'image', message: 'duplicate key "image"' }]);
    });

    it('answers a badly percent-encoded path with 400', async () => {
      expectProblem(await call(`${t.url}/v1/things/%E0%A4%A`, { headers: reader }), 400, 'bad_request');
    });

    it('answers an unknown route with 404', async () => {
      const answer = await call(`${t.url}/v2/nothing`);
      expectProblem(answer, 404, 'not_found');
      expect(answer.body.instance).toBe('/v2/nothing');
      expect(answer.headers.get('connection')).not.toBe('close');
    });

    it('answers HEAD like GET without a body, and OPTIONS with Allow', async () => {
      const head = await fetch(`${t.url}/v1/things/alpha`, { method: 'HEAD', headers: reader });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      const options = await fetch(`${t.url}/v1/things/alpha`, { method: 'OPTIONS' });
      expect(options.status).toBe(204);
      expect(options.headers.get('allow')).toBe('GET, PUT, HEAD, OPTIONS');
    });

    it('answers a known path with the wrong method with 405 and Allow', async () => {
      const answer = await call(`${t.url}/v1/things/alpha`, { method: 'POST', headers: admin });
      expectProblem(answer, 405, 'method_not_allowed');
      expect(answer.headers.get('allow')).toBe('GET, PUT, HEAD, OPTIONS');
    });
  });

  describe('failures and correlation', () => {
    it('answers a handler that throws with a generic 500 carrying the correlation id, and keeps serving', async () => {
      for (const path of ['/v1/boom', '/v1/boom-sync']) {
        const answer = await call(`${t.url}${path}`, { headers: { 'x-correlation-id': 'incident-42.attempt:1' } });
        expectProblem(answer, 500, 'internal');
        expect(answer.body.correlationId).toBe('incident-42.attempt:1');
        expect(answer.body.detail).toMatch(/unexpected error/i);
        expect(JSON.stringify(answer.body)).not.toMatch(/rows|sync failure|at /);
      }
      const errorLine = t.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'request failed');
      expect(errorLine).toMatchObject({ level: 'error', correlationId: 'incident-42.attempt:1' });
      expect((await call(`${t.url}/healthz`)).status).toBe(200);
    });

    it('runs the handler under the caller’s correlation id and echoes it', async () => {
      const answer = await call(`${t.url}/v1/whoami`, { headers: { 'x-correlation-id': 'abc-123' } });
      expect(answer.headers.get('x-correlation-id')).toBe('abc-123');
      expect(answer.body).toEqual({ correlationId: 'abc-123', fromContext: 'abc-123' });
    });

    it('replaces an odd correlation id with a fresh one', async () => {
      const answer = await call(`${t.url}/v1/whoami`, { headers: { 'x-correlation-id': 'has spaces and <html>' } });
      expect(answer.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(answer.body.fromContext).toBe(answer.headers.get('x-correlation-id'));
    });

    it('writes one access log line per request with route, status, duration and correlation id, and no headers', async () => {
      await call(`${t.url}/v1/things/beta`, { headers: { ...reader, 'x-correlation-id': 'access-log-1' } });
      const line = t.logs.map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msg === 'request' && entry.correlationId === 'access-log-1');
      expect(line).toMatchObject({ level: 'info', method: 'GET', route: '/v1/things/:name', path: '/v1/things/beta', status: 200 });
      expect(typeof line?.ms).toBe('number');
      expect(JSON.stringify(line)).not.toMatch(/authorization|Bearer/i);
    });
  });
});

describe('HTTP bootstrap configured for open reads', () => {
  it('lets reads through without a token but not writes', async () => {
    const t = await startTestServer({ auth: { adminToken: ADMIN, readTokens: [], openReads: true } });
    try {
      expect((await call(`${t.url}/v1/things/alpha`)).body).toMatchObject({ name: 'alpha', principal: 'anonymous' });
      expectProblem(await call(`${t.url}/v1/things/alpha`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"image":"x"}' }), 401, 'unauthorized');
    } finally {
      await t.server.close();
    }
  });
});

describe('HTTP bootstrap without an admin token', () => {
  it('refuses every write with 401 saying writes are disabled', async () => {
    const t = await startTestServer({ auth: { readTokens: [READER], openReads: false } });
    try {
      const answer = await call(`${t.url}/v1/things/alpha`, { method: 'PUT', headers: { authorization: `Bearer ${READER}`, 'content-type': 'application/json' }, body: '{"image":"x"}' });
      expectProblem(answer, 401, 'unauthorized');
      expect(answer.body.detail).toMatch(/no admin token is configured/);
    } finally {
      await t.server.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('lets a request in flight finish before closing, and reports not ready meanwhile', async () => {
    const t = await startTestServer();
    const inFlight = fetch(`${t.url}/v1/slow`);
    await t.control.slowEntered.promise;

    let closed = false;
    const closing = t.server.close().then(() => {
      closed = true;
    });
    await expect(fetch(`${t.url}/healthz`)).rejects.toThrow();
    expect(closed).toBe(false);

    t.control.slowRelease.resolve();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ done: true });
    await closing;
    expect(closed).toBe(true);
  });

  it('answers /readyz with 503 once shutdown has begun', async () => {
    const checkEntered = deferred();
    const checkRelease = deferred();
    const t = await startTestServer({
      readiness: [
        {
          name: 'database',
          check: async () => {
            checkEntered.resolve();
            await checkRelease.promise;
          },
        },
      ],
    });
    const readiness = fetch(`${t.url}/readyz`);
    await checkEntered.promise;
    const closing = t.server.close();
    checkRelease.resolve();
    const response = await readiness;
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ detail: 'the service is shutting down' });
    await closing;
  });

  it('cuts a request that outlives the grace period', async () => {
    const t = await startTestServer({ shutdownGraceMs: 50 });
    const inFlight = fetch(`${t.url}/v1/slow`);
    await t.control.slowEntered.promise;
    await t.server.close();
    await expect(inFlight).rejects.toThrow();
    t.control.slowRelease.resolve();
  });
});

/** A provider API with its own formats, as the simulator's EC2 endpoint has: XML errors, its own 404. */
function providerRouter(): express.Router {
  const router = express.Router();
  router.get('/items/:id', (request, response) => {
    if (request.params.id === 'broken') throw Object.assign(new Error('the item is broken'), { providerCode: 'InvalidItem.Broken' });
    response.json({ item: request.params.id });
  });
  router.get('/passed-on', (_request, _response, next) => {
    next();
  });
  const providerErrors: ErrorRequestHandler = (error: unknown, _request, response, _next) => {
    const code = (error as { providerCode?: string }).providerCode ?? 'InternalError';
    response.status(400).type('text/xml').send(`<Response><Errors><Error><Code>${code}</Code></Error></Errors></Response>`);
  };
  router.use(providerErrors);
  return router;
}

describe('mounted sub-applications', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ mounts: [{ path: '/provider', handler: providerRouter() }] });
  });
  afterAll(() => t.server.close());

  it('serves the mounted router with a correlation id', async () => {
    const response = await fetch(`${t.url}/provider/items/alpha`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ item: 'alpha' });
    expect(response.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('passes the router’s own error format through untouched', async () => {
    const response = await fetch(`${t.url}/provider/items/broken`);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await response.text()).toBe('<Response><Errors><Error><Code>InvalidItem.Broken</Code></Error></Errors></Response>');
  });

  it('answers paths the router passes on, and paths outside it, with the 404 problem', async () => {
    for (const path of ['/provider/passed-on', '/provider/unknown', '/elsewhere', '/providers/items/alpha']) {
      const answer = await call(`${t.url}${path}`);
      expectProblem(answer, 404, 'not_found');
      expect(answer.body.instance).toBe(path);
    }
  });

  it('still serves the declarative routes and built-in endpoints', async () => {
    expect((await call(`${t.url}/v1/things/alpha`, { headers: reader })).body).toMatchObject({ name: 'alpha' });
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('logs and measures its requests under one bounded route label', async () => {
    for (const id of ['one', 'two', 'three']) expect((await fetch(`${t.url}/provider/items/${id}`)).status).toBe(200);
    expect((await fetch(`${t.url}/provider/items/broken`)).status).toBe(400);
    expect((await fetch(`${t.url}/provider/unknown`)).status).toBe(404);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/provider\/\*"[^}]*status="200"[^}]*\} [3-9]/);
    expect(text).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/provider\/\*"[^}]*status="400"/);
    expect(text).not.toContain('/provider/items');
    expect(text).toMatch(/http_request_duration_seconds_count\{[^}]*route="unmatched"[^}]*status="404"/);
    await waitFor(() => t.logs.find((line) => line.includes('"route":"/provider/*"') && line.includes('"path":"/provider/items/three"')), { what: 'the access log line' });
  });

  it('refuses a mount that is not a fixed prefix or would hide a route', () => {
    const build = (path: string) => () => createHttpApp({ ...minimalOptions(), mounts: [{ path, handler: providerRouter() }] });
    expect(build('/provider/:id')).toThrow(/fixed prefix/);
    expect(build('/provider/')).toThrow(/fixed prefix/);
    expect(build('/')).toThrow(/fixed prefix/);
    expect(build('/metrics')).toThrow(/would shadow route GET \/metrics/);
    expect(() => createHttpApp({ ...minimalOptions(), mounts: [{ path: '/p', handler: providerRouter() }, { path: '/p', handler: providerRouter() }] })).toThrow(/defined twice/);
  });
});

function minimalOptions(): HttpAppOptions {
  return {
    service: 'mount-test',
    version: '0.0.0',
    logger: createLogger({ service: 'mount-test', level: 'silent' }),
    auth: { readTokens: [], openReads: false },
    bodyLimitBytes: BODY_LIMIT,
    routes: [],
    metrics: new Registry(),
    openapi: { title: 'mount test' },
  };
}

describe('readiness deadline', () => {
  it('reports a check that hangs as timed out', async () => {
    const t = await startTestServer({ readinessTimeoutMs: 50, readiness: [{ name: 'broker', check: () => new Promise<void>(() => undefined) }] });
    try {
      const response = await fetch(`${t.url}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ checks: { broker: { status: 'failed', reason: 'timed out after 50 ms' } } });
    } finally {
      await t.server.close();
    }
  });
});
