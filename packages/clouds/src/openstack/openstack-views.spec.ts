import { describe, expect, it } from 'vitest';
import { instanceFromServer, instanceState, novaServerSchema, serverAddresses } from './openstack-views.ts';

describe('instanceState', () => {
  it.each([
    ['BUILD', null, 'pending'],
    ['ACTIVE', null, 'running'],
    ['ACTIVE', 'rebooting', 'rebooting'],
    ['ACTIVE', 'reboot_started_hard', 'rebooting'],
    ['ACTIVE', 'powering-off', 'stopping'],
    ['ACTIVE', 'deleting', 'terminating'],
    ['SHUTOFF', 'deleting', 'terminating'],
    ['REBOOT', 'rebooting', 'rebooting'],
    ['HARD_REBOOT', 'rebooting_hard', 'rebooting'],
    ['SHUTOFF', null, 'stopped'],
    ['ERROR', null, 'error'],
    ['DELETED', null, 'terminated'],
    ['SOFT_DELETED', null, 'terminated'],
    ['PAUSED', null, 'other'],
    ['RESCUE', null, 'other'],
    ['UNKNOWN', null, 'other'],
  ] as const)('maps %s with task state %s to %s', (status, taskState, state) => {
    expect(instanceState(status, taskState)).toBe(state);
  });
});

describe('serverAddresses', () => {
  it('reads fixed and floating addresses of every network, with their family, and skips what is not an address', () => {
    expect(
      serverAddresses({
        private: [
          { addr: '10.0.0.5', version: 4, 'OS-EXT-IPS:type': 'fixed' },
          { addr: '172.24.4.9', version: 4, 'OS-EXT-IPS:type': 'floating' },
          { addr: 'fd00::5', version: 6 },
        ],
        broken: [{ addr: 'not-an-address' }],
      }),
    ).toEqual([
      { address: '10.0.0.5', type: 'fixed', version: 4, network: 'private' },
      { address: '172.24.4.9', type: 'floating', version: 4, network: 'private' },
      { address: 'fd00::5', type: 'fixed', version: 6, network: 'private' },
    ]);
  });
});

describe('instanceFromServer', () => {
  it("keeps Nova's words, zone, host, string metadata, the action id and when it changed", () => {
    const server = novaServerSchema.parse({
      id: 'server-1',
      name: 'db-1',
      status: 'ACTIVE',
      'OS-EXT-STS:task_state': 'powering-off',
      'OS-EXT-AZ:availability_zone': 'nova',
      hostId: 'abc',
      addresses: {},
      metadata: { 'defib-action': 'action-1', 'defib-managed': 'true', odd: 5 },
      updated: '2025-01-01T00:00:10Z',
    });
    expect(instanceFromServer(server)).toEqual({
      id: 'server-1',
      name: 'db-1',
      state: 'stopping',
      cloudStatus: 'ACTIVE/powering-off',
      addresses: [],
      zone: 'nova',
      hostId: 'abc',
      metadata: { 'defib-action': 'action-1', 'defib-managed': 'true' },
      actionId: 'action-1',
      updatedAt: '2025-01-01T00:00:10Z',
    });
  });

  it('leaves out an empty host id and a missing zone', () => {
    const instance = instanceFromServer(novaServerSchema.parse({ id: 'server-1', status: 'BUILD', hostId: '' }));
    expect(instance).toEqual({ id: 'server-1', name: '', state: 'pending', cloudStatus: 'BUILD', addresses: [], metadata: {} });
  });
});
