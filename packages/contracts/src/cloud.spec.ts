import { describe, expect, it } from 'vitest';
import { checkContract } from './contract-violation.ts';
import { cloudRegistrationSchema, publicCloudSchema, toPublicCloud, type CloudRegistrationInput } from './cloud.ts';

function anOpenstackRegistration(): CloudRegistrationInput {
  return {
    provider: 'openstack',
    authUrl: 'http://localhost:7200/identity/v3',
    region: 'RegionOne',
    credentials: { username: 'admin', password: 'secret', project: 'admin', domain: 'Default' },
  };
}

function anEc2Registration(): CloudRegistrationInput {
  return {
    provider: 'ec2',
    endpoint: 'http://localhost:7200/ec2/',
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' },
  };
}

describe('cloudRegistrationSchema', () => {
  it('accepts the brief OpenStack registration and defaults the interface to public', () => {
    const registration = cloudRegistrationSchema.parse(anOpenstackRegistration());
    expect(registration).toMatchObject({ provider: 'openstack', interface: 'public', credentials: { domain: 'Default' } });
  });

  it('defaults the OpenStack domain to Default', () => {
    const input = { ...anOpenstackRegistration(), credentials: { username: 'u', password: 'p', project: 'p' } };
    expect(cloudRegistrationSchema.parse(input).credentials).toMatchObject({ domain: 'Default' });
  });

  it('accepts an EC2 registration, with and without a session token', () => {
    expect(cloudRegistrationSchema.parse(anEc2Registration()).provider).toBe('ec2');
    const withoutToken = { provider: 'ec2', endpoint: 'https://ec2.us-east-1.amazonaws.com/', region: 'us-east-1', credentials: { accessKeyId: 'AKIA', secretAccessKey: 's' } };
    expect(cloudRegistrationSchema.safeParse(withoutToken).success).toBe(true);
  });

  it('rejects an unknown provider and names the accepted ones', () => {
    expect(checkContract(cloudRegistrationSchema, { ...anEc2Registration(), provider: 'gcp' })).toEqual({
      ok: false,
      issues: [{ path: 'provider', message: 'must be one of "openstack", "ec2"' }],
    });
  });

  it('rejects missing credentials', () => {
    const { credentials: _credentials, ...withoutCredentials } = anOpenstackRegistration();
    expect(checkContract(cloudRegistrationSchema, withoutCredentials)).toEqual({ ok: false, issues: [{ path: 'credentials', message: 'is required' }] });
  });

  it('rejects credentials of the other provider, naming each field', () => {
    const mixed = { ...anEc2Registration(), credentials: { username: 'admin', password: 'secret', project: 'admin' } };
    const result = checkContract(cloudRegistrationSchema, mixed);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues.map((issue) => issue.path).sort()).toEqual(
        ['credentials.accessKeyId', 'credentials.secretAccessKey', 'credentials.username', 'credentials.password', 'credentials.project'].sort(),
      );
    }
  });

  it('rejects unknown fields at the top and in credentials', () => {
    const input = { ...anOpenstackRegistration(), zone: 'nova', credentials: { username: 'u', password: 'p', project: 'p', token: 't' } };
    expect(checkContract(cloudRegistrationSchema, input)).toEqual({
      ok: false,
      issues: [
        { path: 'credentials.token', message: 'unknown field' },
        { path: 'zone', message: 'unknown field' },
      ],
    });
  });

  it.each(['ftp://host/identity/v3', 'not a url', 'http://admin:secret@host/identity/v3'])('rejects the auth URL %s', (authUrl) => {
    const result = checkContract(cloudRegistrationSchema, { ...anOpenstackRegistration(), authUrl });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((issue) => issue.path)).toEqual(['authUrl']);
  });

  it('rejects an unknown catalogue interface', () => {
    expect(checkContract(cloudRegistrationSchema, { ...anOpenstackRegistration(), interface: 'private' }).ok).toBe(false);
  });
});

describe('toPublicCloud', () => {
  it('shows an OpenStack cloud without its username or password', () => {
    const view = toPublicCloud('sim-openstack', cloudRegistrationSchema.parse(anOpenstackRegistration()));
    expect(view).toEqual({
      name: 'sim-openstack',
      provider: 'openstack',
      authUrl: 'http://localhost:7200/identity/v3',
      region: 'RegionOne',
      interface: 'public',
      project: 'admin',
      domain: 'Default',
      limits: { requestsPerSecond: 10, concurrency: 10 },
      credentialsSet: true,
    });
    expect(JSON.stringify(view)).not.toContain('secret');
    expect(publicCloudSchema.safeParse(view).success).toBe(true);
  });

  it('shows an EC2 cloud with its access key id masked and no secret or session token', () => {
    const view = toPublicCloud('sim-ec2', cloudRegistrationSchema.parse(anEc2Registration()));
    expect(view).toEqual({ name: 'sim-ec2', provider: 'ec2', endpoint: 'http://localhost:7200/ec2/', region: 'us-east-1', accessKeyId: '****MPLE', limits: { requestsPerSecond: 10, concurrency: 10 }, credentialsSet: true });
    const json = JSON.stringify(view);
    expect(json).not.toContain('wJalrXUtnFEMI');
    expect(json).not.toContain('FwoGZXIv');
    expect(json).not.toContain('AKIAIOSFODNN7');
    expect(publicCloudSchema.safeParse(view).success).toBe(true);
  });

  it('masks a short access key id entirely', () => {
    const registration = cloudRegistrationSchema.parse({ ...anEc2Registration(), credentials: { accessKeyId: 'short', secretAccessKey: 's' } });
    expect(toPublicCloud('c', registration)).toMatchObject({ accessKeyId: '****' });
  });

  it('has a public schema that refuses a view carrying credentials', () => {
    const leaky = { ...toPublicCloud('c', cloudRegistrationSchema.parse(anEc2Registration())), credentials: { secretAccessKey: 'x' } };
    expect(publicCloudSchema.safeParse(leaky).success).toBe(false);
  });
});
