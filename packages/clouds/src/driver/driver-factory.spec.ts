import type { CloudRegistration } from '@defib/contracts';
import { ManualClock } from '@defib/platform/testing';
import { describe, expect, it } from 'vitest';
import { cloudDriverFactory } from './driver-factory.ts';
import { CloudLimiters } from './cloud-limiter.ts';

const limits = { requestsPerSecond: 5, concurrency: 2 };
const openstack: CloudRegistration = {
  provider: 'openstack',
  authUrl: 'http://127.0.0.1:9/identity/v3',
  region: 'RegionOne',
  interface: 'public',
  credentials: { username: 'admin', password: 'secret', project: 'admin', domain: 'Default' },
  limits,
};
const ec2: CloudRegistration = { provider: 'ec2', endpoint: 'http://127.0.0.1:9/ec2/', region: 'us-east-1', credentials: { accessKeyId: 'AKIAFACTORY00001', secretAccessKey: 'factory-secret' }, limits };

describe('cloud driver factory', () => {
  it('builds the driver of the registration provider, named after the cloud', () => {
    const driverFor = cloudDriverFactory({ clock: new ManualClock(0) });
    expect(driverFor('sim-openstack', openstack)).toMatchObject({ cloud: 'sim-openstack', provider: 'openstack' });
    expect(driverFor('sim-ec2', ec2)).toMatchObject({ cloud: 'sim-ec2', provider: 'ec2' });
  });

  it('keeps a cloud driver (and its token and lookups) while the registration is unchanged, and builds a new one when it changes', () => {
    const driverFor = cloudDriverFactory({ clock: new ManualClock(0) });
    const first = driverFor('sim-openstack', openstack);
    expect(driverFor('sim-openstack', { ...openstack })).toBe(first);
    const renewed = driverFor('sim-openstack', { ...openstack, credentials: { ...openstack.credentials, password: 'rotated' } });
    expect(renewed).not.toBe(first);
  });

  it("follows a re-registered cloud's limits on the limiter every driver of that cloud shares", () => {
    const limiters = new CloudLimiters(new ManualClock(0));
    const driverFor = cloudDriverFactory({ clock: new ManualClock(0), limiters });
    const shared = limiters.for('sim-openstack', limits);
    driverFor('sim-openstack', openstack);
    driverFor('sim-openstack', { ...openstack, limits: { requestsPerSecond: 50, concurrency: 8 } });
    expect(shared.limits).toEqual({ requestsPerSecond: 50, concurrency: 8 });
  });

  it('lets go of every driver it made when closed, and builds afresh after', () => {
    const driverFor = cloudDriverFactory({ clock: new ManualClock(0) });
    const before = driverFor('sim-ec2', ec2);
    driverFor.close();
    expect(driverFor('sim-ec2', ec2)).not.toBe(before);
  });

  it('tries a registration with a driver it does not keep, leaving the kept one in place', () => {
    const driverFor = cloudDriverFactory({ clock: new ManualClock(0) });
    const kept = driverFor('sim-openstack', openstack);
    const trial = driverFor.trial('sim-openstack', { ...openstack, credentials: { ...openstack.credentials, password: 'wrong' } });
    expect(trial).not.toBe(kept);
    trial.close();
    expect(driverFor('sim-openstack', openstack)).toBe(kept);
  });
});
