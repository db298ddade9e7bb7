import { ContractViolation } from '@defib/contracts';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { REQUEST_PARSE_OPTIONS, fieldIssuesFromViolation, fieldIssuesFromZod } from './validation.ts';

function issuesOf(schema: z.ZodType, value: unknown): z.core.$ZodIssue[] {
  const result = schema.safeParse(value, REQUEST_PARSE_OPTIONS);
  if (result.success) throw new Error('expected the value to be refused');
  return result.error.issues;
}

describe('request validation issues', () => {
  it('put params and query fields under their location', () => {
    expect(fieldIssuesFromZod(issuesOf(z.object({ name: z.string().min(3) }), { name: 'x' }), 'params')[0]?.path).toBe('params.name');
    expect(fieldIssuesFromZod(issuesOf(z.object({ limit: z.number() }), {}), 'query')).toEqual([{ path: 'query.limit', message: 'is required' }]);
  });

  it('name body fields without a prefix, and the body as a whole "body"', () => {
    const schema = z.object({ assemblies: z.array(z.object({ dependsOn: z.array(z.string()) })) });
    expect(fieldIssuesFromZod(issuesOf(schema, { assemblies: [{ dependsOn: [] }, { dependsOn: [3] }] }))[0]?.path).toBe('assemblies[1].dependsOn[0]');
    expect(fieldIssuesFromZod(issuesOf(schema, undefined))).toEqual([{ path: 'body', message: 'is required' }]);
  });

  it('name each unknown field of a strict object', () => {
    expect(fieldIssuesFromZod(issuesOf(z.strictObject({ a: z.string() }), { a: 'x', b: 1, c: 2 }))).toEqual([
      { path: 'b', message: 'unknown field' },
      { path: 'c', message: 'unknown field' },
    ]);
  });

  it('take a contract violation’s issues as they are', () => {
    const violation = new ContractViolation('manifest', [{ path: 'assemblies[0].name', message: 'duplicate name' }, { path: '', message: 'must be an object' }]);
    expect(fieldIssuesFromViolation(violation)).toEqual([
      { path: 'assemblies[0].name', message: 'duplicate name' },
      { path: 'body', message: 'must be an object' },
    ]);
  });
});
