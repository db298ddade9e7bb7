/**
 * Hostile request bodies every Defib API must refuse with a 4xx, never a 5xx or a crash: garbage,
 * wrong types, prototype pollution, deep nesting, YAML aliases and tags, huge bodies and content
 * types nobody accepts. One table, used by every part's bad-input test, so a case added for one
 * API is tried against all of them.
 */
import { expect } from 'vitest';

export interface HostileBody {
  /** What the body is, for the failure message. */
  name: string;
  raw: string;
  contentType: string;
}

const json = (name: string, raw: string): HostileBody => ({ name, raw, contentType: 'application/json' });
const yaml = (name: string, raw: string): HostileBody => ({ name, raw, contentType: 'application/yaml' });

/**
 * The table, sized for an API whose body limit is `limitBytes`: the deep nesting stays under the
 * limit (so the parser and the validation see it), the huge body is twice the limit. YAML bodies
 * are sent as YAML: an API that takes only JSON must refuse them with a 415.
 */
export function hostileBodies(limitBytes: number, extra: readonly HostileBody[] = []): HostileBody[] {
  const depth = Math.min(50_000, Math.floor((limitBytes - 64) / 12));
  return [
    json('truncated JSON', '{"name": "x",'),
    json('not JSON at all', 'this is not JSON'),
    json('control characters', '\u0000\u0001\u0002'),
    json('null', 'null'),
    json('an array', '[]'),
    json('a number', '42'),
    json('a string', '"text"'),
    json('true', 'true'),
    json('every field of the wrong type', '{"kind":42,"name":[],"url":{},"seed":{},"faults":"all","eventTypes":7,"auth":"x","server":[1],"assemblies":{},"provider":null}'),
    json('nulls inside', '{"auth":{"identity":null},"server":{"name":null},"faults":[null],"assemblies":[null]}'),
    json('__proto__ pollution', '{"__proto__":{"polluted":true}}'),
    json('constructor.prototype pollution', '{"constructor":{"prototype":{"polluted":true}}}'),
    json('deeply nested objects', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
    json('deeply nested arrays', `${'['.repeat(depth)}${']'.repeat(depth)}`),
    json('a huge body', JSON.stringify({ padding: 'x'.repeat(limitBytes * 2) })),
    yaml('a recursive alias', 'a: &a [*a]'),
    yaml('a billion laughs', ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]', ...Array.from({ length: 8 }, (_, index) => `${String.fromCharCode(98 + index)}: &${String.fromCharCode(98 + index)} [${Array(9).fill(`*${String.fromCharCode(97 + index)}`).join(',')}]`)].join('\n')),
    yaml('a language tag', 'name: !!js/function "function () { return process.exit(1) }"'),
    yaml('a merge key', 'base: &base {kind: webhook}\nsubscription:\n  <<: *base'),
    yaml('deeply nested flow YAML', `a: ${'['.repeat(Math.min(depth, 5_000))}${']'.repeat(Math.min(depth, 5_000))}`),
    yaml('two documents', 'a: 1\n---\nb: 2'),
    { name: 'plain text', raw: 'name=x', contentType: 'text/plain' },
    { name: 'a form', raw: 'name=x&kind=webhook', contentType: 'application/x-www-form-urlencoded' },
    { name: 'XML', raw: '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "e">]><a>&e;</a>', contentType: 'application/xml' },
    ...extra,
  ];
}

export interface HostileTarget {
  /** `POST /v1/subscriptions`, for the failure message. */
  name: string;
  send: (body: HostileBody) => Promise<Response>;
}

/**
 * Sends every body to every target and expects a 4xx for each; then that nothing was polluted
 * and that the server still answers `alive` with a 200.
 */
export async function expectHostileBodiesRefused(targets: readonly HostileTarget[], bodies: readonly HostileBody[], alive: () => Promise<Response>): Promise<void> {
  const answers: string[] = [];
  for (const target of targets) {
    for (const body of bodies) {
      const response = await target.send(body);
      await response.arrayBuffer();
      if (response.status < 400 || response.status >= 500) answers.push(`${target.name} with ${body.name}: ${response.status}`);
    }
  }
  expect(answers, 'requests not refused with a 4xx').toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect((await alive()).status).toBe(200);
}
