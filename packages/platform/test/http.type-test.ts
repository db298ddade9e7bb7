/**
 * Type tests: compiled by `pnpm typecheck` (tsc), never run. A route's handler gets its input
 * typed from the route's schemas, and loosely typed without them.
 */
import { expectTypeOf } from 'vitest';
import { z } from 'zod';
import { defineRoute } from '../src/http/index.ts';

defineRoute({
  method: 'put',
  path: '/v1/clouds/:name',
  operationId: 'typed',
  summary: 'Types only',
  scope: 'write',
  params: z.object({ name: z.string() }),
  query: z.object({ force: z.stringbool().optional() }),
  body: z.object({ provider: z.enum(['openstack', 'ec2']), replicas: z.number().default(1) }),
  responses: {},
  handler: ({ params, query, body }) => {
    expectTypeOf(params).toEqualTypeOf<{ name: string }>();
    expectTypeOf(query.force).toEqualTypeOf<boolean | undefined>();
    expectTypeOf(body).toEqualTypeOf<{ provider: 'openstack' | 'ec2'; replicas: number }>();
    return { status: 204 };
  },
});

defineRoute({
  method: 'get',
  path: '/v1/clouds',
  operationId: 'untyped',
  summary: 'No schemas',
  scope: 'read',
  responses: {},
  handler: ({ params, body }) => {
    expectTypeOf(params).toEqualTypeOf<Readonly<Record<string, string>>>();
    expectTypeOf(body).toEqualTypeOf<undefined>();
    return { status: 204 };
  },
});

// A wrong expectation is a type error (the check above cannot pass vacuously).
defineRoute({
  method: 'get',
  path: '/v1/clouds/:name',
  operationId: 'mistyped',
  summary: 'A deliberate mismatch',
  scope: 'read',
  params: z.object({ name: z.string() }),
  responses: {},
  handler: ({ params }) => {
    // @ts-expect-error params.name is a string, not a number
    expectTypeOf(params.name).toEqualTypeOf<number>();
    return { status: 204 };
  },
});
