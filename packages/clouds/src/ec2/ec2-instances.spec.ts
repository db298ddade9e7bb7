import { describe, expect, it } from 'vitest';
import { toCloudInstance } from './ec2-instances.ts';

describe('toCloudInstance', () => {
  it.each([
    ['pending', 'pending'],
    ['running', 'running'],
    ['shutting-down', 'terminating'],
    ['terminated', 'terminated'],
    ['stopping', 'stopping'],
    ['stopped', 'stopped'],
    ['hibernating', 'other'],
  ] as const)('shows EC2 state %s as %s', (name, state) => {
    expect(toCloudInstance({ InstanceId: 'i-1', State: { Name: name as 'pending' } })).toMatchObject({ state, cloudStatus: name });
  });

  it('reads name, action id and metadata from the tags, and the addresses of every interface', () => {
    const instance = toCloudInstance({
      InstanceId: 'i-1',
      State: { Name: 'running' },
      Tags: [{ Key: 'Name', Value: 'db-1' }, { Key: 'defib-action', Value: 'act-1' }],
      NetworkInterfaces: [{ SubnetId: 'subnet-1', PrivateIpAddresses: [{ PrivateIpAddress: '172.31.0.5', Association: { PublicIp: '54.1.2.3' } }], Ipv6Addresses: [{ Ipv6Address: '2600:1f18::5' }] }],
    });
    expect(instance).toMatchObject({ name: 'db-1', actionId: 'act-1', metadata: { Name: 'db-1', 'defib-action': 'act-1' } });
    expect(instance.addresses).toEqual([
      { address: '172.31.0.5', type: 'fixed', version: 4, network: 'subnet-1' },
      { address: '54.1.2.3', type: 'floating', version: 4, network: 'subnet-1' },
      { address: '2600:1f18::5', type: 'fixed', version: 6, network: 'subnet-1' },
    ]);
  });

  it('carries the status checks and says which failed in cloudStatus', () => {
    const instance = toCloudInstance(
      { InstanceId: 'i-1', State: { Name: 'running' } },
      { InstanceId: 'i-1', SystemStatus: { Status: 'impaired', Details: [{ Name: 'reachability', Status: 'failed' }] }, InstanceStatus: { Status: 'impaired', Details: [{ Name: 'reachability', Status: 'failed' }] } },
    );
    expect(instance.health).toEqual({ system: 'impaired', instance: 'impaired', details: ['reachability'] });
    expect(instance.cloudStatus).toBe('running/system+instance-impaired');
  });
});
