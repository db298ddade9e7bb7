import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkContract, ContractViolation, decodeJsonBody, formatIssuePath, parseContract } from './contract-violation.ts';

describe('formatIssuePath', () => {
  it('writes array indexes in brackets and keys with dots', () => {
    expect(formatIssuePath(['assemblies', 1, 'dependsOn', 0])).toBe('assemblies[1].dependsOn[0]');
    expect(formatIssuePath(['assemblies', 0, 'heartbeat', 'interval'])).toBe('assemblies[0].heartbeat.interval');
  });

  it('quotes keys that are not identifiers', () => {
    expect(formatIssuePath(['metadata', 'app.io/name'])).toBe('metadata["app.io/name"]');
  });

  it('writes the root as an empty path', () => {
    expect(formatIssuePath([])).toBe('');
    expect(formatIssuePath([0, 'a'])).toBe('[0].a');
  });
});

describe('checkContract', () => {
  const schema = z.strictObject({ name: z.string(), size: z.number() });

  it('reports a missing field as required and every unknown key at its own path', () => {
    const result = checkContract(schema, { size: 1, colour: 'red', shape: 'round' });
    expect(result).toEqual({
      ok: false,
      issues: [
        { path: 'name', message: 'is required' },
        { path: 'colour', message: 'unknown field' },
        { path: 'shape', message: 'unknown field' },
      ],
    });
  });

  it('returns the parsed value when valid', () => {
    expect(checkContract(schema, { name: 'a', size: 1 })).toEqual({ ok: true, value: { name: 'a', size: 1 } });
  });
});

describe('ContractViolation', () => {
  it('carries the contract name and every issue', () => {
    try {
      parseContract('widget', z.strictObject({ a: z.string(), b: z.string() }), {});
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ContractViolation);
      const violation = error as ContractViolation;
      expect(violation.contract).toBe('widget');
      expect(violation.issues).toHaveLength(2);
      expect(violation.message).toBe('invalid widget: a: is required; b: is required');
    }
  });

  it('never quotes the rejected value in its message', () => {
    const error = (() => {
      try {
        parseContract('login', z.strictObject({ password: z.string().min(20) }), { password: 'hunter2' });
      } catch (caught) {
        return caught as ContractViolation;
      }
      return undefined;
    })();
    expect(error?.message).not.toContain('hunter2');
  });
});

describe('decodeJsonBody', () => {
  it('decodes bytes and JSON text, and passes decoded values through', () => {
    expect(decodeJsonBody('x', Buffer.from('{"a":1}'))).toEqual({ a: 1 });
    expect(decodeJsonBody('x', '{"a":1}')).toEqual({ a: 1 });
    expect(decodeJsonBody('x', { a: 1 })).toEqual({ a: 1 });
  });

  it('rejects text that is not JSON with a ContractViolation', () => {
    expect(() => decodeJsonBody('x', 'not json')).toThrow(ContractViolation);
  });
});
