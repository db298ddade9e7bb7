import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseHeartbeat } from './agent-protocol.ts';
import { decodeAgentKey, deriveAgentKey, encodeAgentKey, signAgentJson, signAgentMessage, verifyAgentMessage } from './agent-signature.ts';

const secret = Buffer.alloc(32, 1);
const assemblyId = '6f1c0dea-0000-4000-8000-000000000001';

function anUnsignedHeartbeat() {
  return {
    kind: 'heartbeat',
    protocol: 1,
    assemblyId,
    deployableId: randomUUID(),
    instanceId: 'i-0123456789abcdef0',
    bootId: 'b6f1c0de-boot',
    intervalMs: 1000,
    addresses: [{ address: '10.0.0.5', type: 'fixed', network: 'private', version: 4 }],
    resources: [{ name: 'mysqld', state: 'running', since: 1_767_225_590_000 }],
    sequence: 1,
    sentAt: 1_767_225_600_000,
  };
}

describe('agent keys', () => {
  it('are derived from the installation secret and the assembly id, the same every time', () => {
    const key = deriveAgentKey(secret, assemblyId);
    expect(encodeAgentKey(deriveAgentKey(secret, assemblyId))).toBe(encodeAgentKey(key));
    expect(encodeAgentKey(deriveAgentKey(secret, randomUUID()))).not.toBe(encodeAgentKey(key));
    expect(encodeAgentKey(deriveAgentKey(Buffer.alloc(32, 2), assemblyId))).not.toBe(encodeAgentKey(key));
  });

  it('travel as 32 bytes of base64 and come back whole', () => {
    const key = deriveAgentKey(secret, assemblyId);
    const text = encodeAgentKey(key);
    expect(Buffer.from(text, 'base64')).toHaveLength(32);
    expect(encodeAgentKey(decodeAgentKey(text))).toBe(text);
    expect(() => decodeAgentKey('c2hvcnQ=')).toThrow(RangeError);
  });

  it('refuse a secret shorter than a key', () => {
    expect(() => deriveAgentKey(Buffer.alloc(16), assemblyId)).toThrow(RangeError);
  });
});

describe('signed agent messages', () => {
  const key = deriveAgentKey(secret, assemblyId);

  it('end with the MAC member and verify under the same key', () => {
    const body = signAgentMessage(anUnsignedHeartbeat(), key);
    expect(body.toString()).toMatch(/,"mac":"[A-Za-z0-9_-]{43}"\}$/);
    expect(verifyAgentMessage(body, key)).toBe(true);
    expect(parseHeartbeat(body).sequence).toBe(1);
  });

  it('sign the JSON text as sent: hashing the bytes, not a re-serialisation', () => {
    const heartbeat = anUnsignedHeartbeat();
    const json = JSON.stringify(heartbeat);
    expect(signAgentJson(json, key)).toEqual(signAgentMessage(heartbeat, key));
    const reordered = signAgentJson(`{"protocol":1,${json.slice(1).replace('"protocol":1,', '')}`, key);
    expect(verifyAgentMessage(reordered, key)).toBe(true);
  });

  it("fail under another assembly's key: a VM cannot speak for another", () => {
    const body = signAgentMessage(anUnsignedHeartbeat(), key);
    expect(verifyAgentMessage(body, deriveAgentKey(secret, randomUUID()))).toBe(false);
  });

  it('fail when any byte was changed', () => {
    const body = signAgentMessage(anUnsignedHeartbeat(), key);
    const tampered = Buffer.from(body.toString().replace('"sequence":1', '"sequence":9'));
    expect(verifyAgentMessage(tampered, key)).toBe(false);
    const flipped = Buffer.from(body);
    flipped[body.length - 10] = flipped[body.length - 10] === 0x41 ? 0x42 : 0x41;
    expect(verifyAgentMessage(flipped, key)).toBe(false);
  });

  it.each([
    ['no MAC', Buffer.from(JSON.stringify(anUnsignedHeartbeat()))],
    ['a MAC that is not the last member', Buffer.from(`{"mac":"${'A'.repeat(43)}","kind":"heartbeat"}`)],
    ['a truncated MAC', Buffer.from(`{"kind":"heartbeat","mac":"${'A'.repeat(40)}"}`)],
    ['an empty body', Buffer.alloc(0)],
    ['garbage', Buffer.from('\u0000\u0001garbage')],
  ])('fail, without throwing, for %s', (_, body) => {
    expect(verifyAgentMessage(body, key)).toBe(false);
  });

  it('refuse to sign anything but a JSON object', () => {
    expect(() => signAgentJson('[1,2]', key)).toThrow(TypeError);
  });
});
