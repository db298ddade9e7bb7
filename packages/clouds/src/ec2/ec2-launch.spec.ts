import { describe, expect, it } from 'vitest';
import { isAmiId, newestImageNamed } from './ec2-images.ts';
import { clientTokenFor, launchTags, runInstancesInput } from './ec2-launch.ts';

describe('launch parameters', () => {
  it('uses an action id as the ClientToken, hashing one too long for EC2', () => {
    expect(clientTokenFor('0b7a3c52-6c1f-4d0e-9a57-1f2e3d4c5b6a')).toBe('0b7a3c52-6c1f-4d0e-9a57-1f2e3d4c5b6a');
    expect(clientTokenFor('x'.repeat(65))).toMatch(/^[0-9a-f]{64}$/);
  });

  it("tags with the caller's metadata, Defib's own marks (which the caller cannot override) and the name", () => {
    expect(launchTags({ actionId: 'act-1', name: 'db-1', image: 'fedora-40', flavor: 't3.micro', metadata: { role: 'db', 'defib-action': 'forged', Name: 'other', 'defib-assembly': 'a-1' } })).toEqual([
      { Key: 'role', Value: 'db' },
      { Key: 'defib-assembly', Value: 'a-1' },
      { Key: 'defib-action', Value: 'act-1' },
      { Key: 'defib-managed', Value: 'true' },
      { Key: 'Name', Value: 'db-1' },
    ]);
  });

  it('asks for one instance, user data in base64, and a subnet only when given one', () => {
    const request = { actionId: 'act-1', name: 'db-1', image: 'fedora-40', flavor: 't3.micro', userData: 'hi', network: 'auto' };
    expect(runInstancesInput(request, 'ami-1')).toMatchObject({ ImageId: 'ami-1', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, ClientToken: 'act-1', UserData: 'aGk=' });
    expect(runInstancesInput(request, 'ami-1')).not.toHaveProperty('SubnetId');
    expect(runInstancesInput({ ...request, network: 'subnet-0abc' }, 'ami-1')).toMatchObject({ SubnetId: 'subnet-0abc' });
  });

  it('tells AMI ids from names and picks the newest image of exactly the name', () => {
    expect([isAmiId('ami-0abcdef1234567890'), isAmiId('ami-12345678'), isAmiId('fedora-40'), isAmiId('ami-fedora')]).toEqual([true, true, false, false]);
    const images = [
      { ImageId: 'ami-1', Name: 'fedora-40', CreationDate: '2025-01-01T00:00:00.000Z' },
      { ImageId: 'ami-2', Name: 'fedora-40', CreationDate: '2025-06-01T00:00:00.000Z' },
      { ImageId: 'ami-3', Name: 'fedora-40-beta', CreationDate: '2025-09-01T00:00:00.000Z' },
    ];
    expect(newestImageNamed(images, 'fedora-40')?.ImageId).toBe('ami-2');
  });
});
