import { describe, expect, it } from 'vitest';
import { negotiateFormat } from './body.ts';
import { AppError } from './errors.ts';
import { parseJsonBody } from './json.ts';
import { parseYamlBody } from './yaml.ts';

function refusal(action: () => unknown): AppError {
  try {
    action();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the body to be refused');
}

describe('JSON bodies', () => {
  it('parses valid JSON', () => {
    expect(parseJsonBody('{"a": [1, {"b": "x"}], "c": null}')).toEqual({ a: [1, { b: 'x' }], c: null });
  });

  it('refuses malformed JSON naming the position', () => {
    const error = refusal(() => parseJsonBody('{\n  "name": "wp",\n  oops\n}'));
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/^malformed JSON body: .*line 3 column 3/);
  });

  it('refuses a duplicate key, naming its path and line', () => {
    const error = refusal(() => parseJsonBody('{"assemblies": [{"name": "db"}, {"name": "web",\n "name": "www"}]}'));
    expect(error.message).toContain('duplicate key "name"');
    expect(error.message).toContain('line 2');
    expect(error.issues).toEqual([{ path: 'assemblies[1].name', message: 'duplicate key "name"' }]);
  });

  it('does not mistake a repeated string value, or a key in another object, for a duplicate', () => {
    expect(parseJsonBody('{"a": "a", "b": {"a": 1}, "c": ["a", "a"], "d": "\\"a\\""}')).toEqual({ a: 'a', b: { a: 1 }, c: ['a', 'a'], d: '"a"' });
  });

  it('refuses a __proto__ key', () => {
    expect(refusal(() => parseJsonBody('{"__proto__": {"admin": true}}')).message).toContain('__proto__');
  });

  it('handles deep nesting without overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(() => parseJsonBody(deep)).not.toThrow(RangeError);
  });
});

describe('YAML bodies', () => {
  it('parses a manifest', () => {
    expect(parseYamlBody('name: wp\nassemblies:\n  - name: db\n    heartbeat: { interval: 1s, missed: 3 }\n')).toEqual({
      name: 'wp',
      assemblies: [{ name: 'db', heartbeat: { interval: '1s', missed: 3 } }],
    });
  });

  it('uses YAML 1.2: yes and no stay strings', () => {
    expect(parseYamlBody('a: yes\nb: no\n')).toEqual({ a: 'yes', b: 'no' });
  });

  it('refuses malformed YAML naming the line and column', () => {
    const error = refusal(() => parseYamlBody('name: wp\nassemblies:\n  - name: db\n   image: x\n'));
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/^malformed YAML body at line 4, column 1: /);
  });

  it('refuses duplicate keys', () => {
    expect(refusal(() => parseYamlBody('name: a\nname: b\n')).message).toMatch(/line 2.*unique/);
  });

  it('refuses language-specific and custom tags', () => {
    expect(refusal(() => parseYamlBody('x: !!js/function "return 1"\n')).message).toContain('Unresolved tag');
    expect(refusal(() => parseYamlBody('x: !custom 3\n')).message).toContain('Unresolved tag');
  });

  it('refuses a billion-laughs document', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 10; level += 1) {
      const previous = `*a${level - 1}`;
      lines.push(`a${level}: &a${level} [${Array.from({ length: 10 }, () => previous).join(', ')}]`);
    }
    expect(refusal(() => parseYamlBody(lines.join('\n'))).message).toMatch(/alias/);
  });

  it('refuses several documents in one body', () => {
    expect(refusal(() => parseYamlBody('a: 1\n---\nb: 2\n')).message).toMatch(/line 2.*one YAML document/);
  });

  it('refuses mapping keys that are not plain values, and __proto__', () => {
    expect(refusal(() => parseYamlBody('? [a, b]\n: 1\n')).message).toMatch(/keys must be plain/);
    expect(refusal(() => parseYamlBody('__proto__: {admin: true}\n')).message).toContain('__proto__');
  });

  it('refuses absurd nesting with a 400, not a crash', () => {
    expect(refusal(() => parseYamlBody(`${'['.repeat(50_000)}${']'.repeat(50_000)}`)).status).toBe(400);
  });
});

describe('content negotiation', () => {
  it('knows JSON, +json and the YAML media types', () => {
    expect(negotiateFormat('application/json; charset=utf-8', ['json'])).toBe('json');
    expect(negotiateFormat('application/merge-patch+json', ['json'])).toBe('json');
    expect(negotiateFormat('application/yaml', ['json', 'yaml'])).toBe('yaml');
    expect(negotiateFormat('text/yaml', ['json', 'yaml'])).toBe('yaml');
    expect(negotiateFormat('Application/X-YAML', ['yaml'])).toBe('yaml');
  });

  it('refuses another type with 415 naming the accepted ones', () => {
    const error = refusal(() => negotiateFormat('text/plain', ['json']));
    expect(error.status).toBe(415);
    expect(error.message).toContain('application/json');
    expect(refusal(() => negotiateFormat('application/yaml', ['json'])).status).toBe(415);
    expect(refusal(() => negotiateFormat(undefined, ['json'])).status).toBe(415);
  });

  it('refuses a charset other than UTF-8', () => {
    expect(refusal(() => negotiateFormat('application/json; charset=latin1', ['json'])).message).toContain('latin1');
  });
});
