import { validateManifest, type Manifest } from '@defib/contracts';
import { describe, expect, it } from 'vitest';
import { offeringIssues } from './cloud-checks.ts';

function manifest(assemblies: object[]): Manifest {
  const result = validateManifest({ apiVersion: 'defib/v1', kind: 'Deployable', name: 'shop', cloud: 'sim-a', assemblies });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.manifest;
}

const offerings = { images: ['fedora-40', 'ubuntu-24.04'], flavors: ['m1.small', 'm1.large'], networks: ['private', 'public'] };

describe('checking a manifest against what the cloud offers', () => {
  it('names each field that asks for what the cloud does not have, with what it does have', () => {
    const issues = offeringIssues('sim-a', manifest([{ name: 'db', image: 'fedora-40', flavor: 'm1.small' }, { name: 'web', image: 'centos-7', flavor: 'm9.huge', network: 'dmz' }]), offerings);
    expect(issues).toEqual([
      { path: 'assemblies[1].image', message: 'cloud sim-a has no image named "centos-7"; it offers fedora-40, ubuntu-24.04' },
      { path: 'assemblies[1].flavor', message: 'cloud sim-a has no flavor named "m9.huge"; it offers m1.large, m1.small' },
      { path: 'assemblies[1].network', message: 'cloud sim-a has no network named "dmz"; it offers private, public' },
    ]);
  });

  it('takes provider ids and the auto and none networks as given', () => {
    const issues = offeringIssues(
      'sim-a',
      manifest([
        { name: 'db', image: '4f1c2a9e-8d3b-4c5a-9e7f-0a1b2c3d4e5f', flavor: 'm1.small', network: 'none' },
        { name: 'web', image: 'ami-0abcdef1234567890', flavor: 'm1.large', network: 'auto' },
      ]),
      offerings,
    );
    expect(issues).toEqual([]);
  });

  it('does not check networks on a cloud that has none to offer (EC2)', () => {
    expect(offeringIssues('sim-ec2', manifest([{ name: 'db', image: 'fedora-40', flavor: 'm1.small', network: 'vpc-main' }]), { images: ['fedora-40'], flavors: ['m1.small'] })).toEqual([]);
  });

  it('shortens a long list of offerings', () => {
    const many = { images: Array.from({ length: 45 }, (_, i) => `image-${String(i).padStart(2, '0')}`), flavors: ['m1.small'] };
    const [issue] = offeringIssues('sim-a', manifest([{ name: 'db', image: 'centos-7', flavor: 'm1.small' }]), many);
    expect(issue?.message).toMatch(/it offers image-00, .*image-19 and 25 more$/);
  });
});
