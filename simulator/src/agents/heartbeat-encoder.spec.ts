import { deriveAgentKey, parseHeartbeat, verifyAgentMessage } from '@defib/contracts';
import { describe, expect, it } from 'vitest';
import { HeartbeatEncoder } from './heartbeat-encoder.ts';
import { CRASH_DETAIL, enter, newResource } from './resource.ts';

const assemblyId = '00000000-0000-4000-8000-000000000001';
const key = deriveAgentKey(Buffer.alloc(32, 3), assemblyId);
const identity = { assemblyId, deployableId: '00000000-0000-4000-8000-000000000002', instanceId: 'i-0123456789abcdef0', bootId: 'boot-1', intervalMs: 1_000, key };

describe('heartbeat encoder', () => {
  it('writes heartbeats the protocol accepts, with the latest addresses and resource states', () => {
    const encoder = new HeartbeatEncoder(identity);
    const mysqld = newResource('mysqld', undefined, 1_000.7);
    encoder.setAddresses([
      { network: 'private', address: '10.0.0.5', kind: 'fixed', mac: 'fa:16:3e:00:00:01' },
      { network: 'private', address: '2001:db8::5', kind: 'floating', mac: 'fa:16:3e:00:00:01' },
    ]);
    encoder.setResources([mysqld]);
    const body = encoder.encode(1, 2_000.9);
    expect(verifyAgentMessage(body, key)).toBe(true);
    const { key: _, ...fields } = identity;
    expect(parseHeartbeat(body)).toEqual({
      kind: 'heartbeat',
      protocol: 1,
      ...fields,
      mac: expect.stringMatching(/^[\w-]{43}$/) as unknown,
      sequence: 1,
      sentAt: 2_000,
      addresses: [
        { address: '10.0.0.5', type: 'fixed', network: 'private', version: 4 },
        { address: '2001:db8::5', type: 'floating', network: 'private', version: 6 },
      ],
      resources: [{ name: 'mysqld', state: 'starting', since: 1_000 }],
    });
    enter(mysqld, 'failed', 3_000, CRASH_DETAIL);
    encoder.setResources([mysqld]);
    encoder.setAddresses([{ network: 'private', address: '10.0.0.6', kind: 'fixed', mac: 'fa:16:3e:00:00:01' }]);
    expect(parseHeartbeat(encoder.encode(2, 3_000))).toMatchObject({
      sequence: 2,
      addresses: [{ address: '10.0.0.6' }],
      resources: [{ name: 'mysqld', state: 'failed', since: 3_000, detail: CRASH_DETAIL }],
    });
  });

  it('keeps identifiers that need escaping valid JSON', () => {
    const encoder = new HeartbeatEncoder({ ...identity, bootId: 'a"b\\c' });
    expect(parseHeartbeat(encoder.encode(1, 1)).bootId).toBe('a"b\\c');
  });
});
