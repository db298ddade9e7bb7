/**
 * Cloud registration: the body of `PUT /v1/clouds/{name}`, and the view of a registered cloud the
 * API returns. The registration carries credentials; the public view never does (only whether
 * they are set and, for EC2, the access key id masked to its last four characters).
 */
import { z } from 'zod';
import { nameSchema } from './name.ts';

function httpUrlSchema() {
  return z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .refine((url) => {
      const parsed = URL.parse(url);
      return parsed === null || (parsed.username === '' && parsed.password === '');
    }, 'must not embed credentials; put them in credentials');
}

const secretSchema = z.string().min(1).max(1024);
const regionSchema = z.string().min(1).max(255);

/**
 * How hard Defib may drive one cloud's API, shared by everything in one process: calls start at
 * most `requestsPerSecond` per second, evenly spaced, with at most `concurrency` under way.
 */
export const cloudLimitsSchema = z.strictObject({
  requestsPerSecond: z.number().positive().max(10_000).default(10),
  concurrency: z.int().min(1).max(1_000).default(10),
});
/** A cloud's API limits, defaults filled in. */
export type CloudLimits = z.output<typeof cloudLimitsSchema>;

/** Keystone v3 password credentials. */
export const openstackCredentialsSchema = z.strictObject({
  username: z.string().min(1).max(255),
  password: secretSchema,
  project: z.string().min(1).max(255),
  /** User and project domain name. */
  domain: z.string().min(1).max(255).default('Default'),
});

/** EC2 access key (and session token for temporary credentials). */
export const ec2CredentialsSchema = z.strictObject({
  accessKeyId: z.string().min(1).max(128),
  secretAccessKey: secretSchema,
  sessionToken: z.string().min(1).max(4096).optional(),
});

/** An OpenStack cloud: Keystone v3 at `authUrl`, services picked from the catalogue by region and interface. */
export const openstackRegistrationSchema = z.strictObject({
  provider: z.literal('openstack'),
  /** Keystone v3 endpoint, e.g. `http://host:7200/identity/v3`. */
  authUrl: httpUrlSchema(),
  region: regionSchema,
  credentials: openstackCredentialsSchema,
  /** Which catalogue endpoints to use. */
  interface: z.enum(['public', 'internal', 'admin']).default('public'),
  /**
   * The network new VMs are attached to unless an assembly names its own: a network name or id,
   * `auto` (Nova allocates one) or `none` (no ports). Left out, the one network the project can
   * see is used; with several, a launch says which to choose.
   */
  network: z.string().min(1).max(255).optional(),
  limits: cloudLimitsSchema.prefault({}),
});

/** An EC2-compatible cloud speaking the EC2 Query API at `endpoint`. */
export const ec2RegistrationSchema = z.strictObject({
  provider: z.literal('ec2'),
  /** EC2 Query API endpoint, e.g. `http://host:7200/ec2/`. */
  endpoint: httpUrlSchema(),
  region: regionSchema,
  credentials: ec2CredentialsSchema,
  limits: cloudLimitsSchema.prefault({}),
});

/** Body of `PUT /v1/clouds/{name}`, discriminated on `provider`. */
export const cloudRegistrationSchema = z.discriminatedUnion('provider', [openstackRegistrationSchema, ec2RegistrationSchema]);

/** A parsed cloud registration, credentials included: keep it out of logs and responses. */
export type CloudRegistration = z.output<typeof cloudRegistrationSchema>;
/** The registration body as sent (`domain` and `interface` may be left out). */
export type CloudRegistrationInput = z.input<typeof cloudRegistrationSchema>;
/** The cloud providers Defib has drivers for. */
export type CloudProvider = CloudRegistration['provider'];
/** Credentials of either provider. */
export type CloudCredentials = CloudRegistration['credentials'];
/** A parsed OpenStack registration, credentials included. */
export type OpenstackRegistration = z.output<typeof openstackRegistrationSchema>;
/** A parsed EC2 registration, credentials included. */
export type Ec2Registration = z.output<typeof ec2RegistrationSchema>;
/** Keystone v3 password credentials. */
export type OpenstackCredentials = z.output<typeof openstackCredentialsSchema>;
/** EC2 access key credentials. */
export type Ec2Credentials = z.output<typeof ec2CredentialsSchema>;

/**
 * Only in the answer to a registration the cloud could not be asked about (unreachable or
 * throttling): what could not be checked. The check is repeated at launch.
 */
const registrationWarningsSchema = z.array(z.string()).optional();

/** The API's view of a registered OpenStack cloud. */
export const publicOpenstackCloudSchema = z.strictObject({
  name: nameSchema,
  provider: z.literal('openstack'),
  authUrl: z.string(),
  region: z.string(),
  interface: z.enum(['public', 'internal', 'admin']),
  project: z.string(),
  domain: z.string(),
  network: z.string().optional(),
  limits: cloudLimitsSchema,
  credentialsSet: z.literal(true),
  warnings: registrationWarningsSchema,
});

/** The API's view of a registered EC2 cloud. */
export const publicEc2CloudSchema = z.strictObject({
  name: nameSchema,
  provider: z.literal('ec2'),
  endpoint: z.string(),
  region: z.string(),
  /** `****` followed by the key id's last four characters; just `****` for short key ids. */
  accessKeyId: z.string().regex(/^\*{4}.{0,4}$/),
  limits: cloudLimitsSchema,
  credentialsSet: z.literal(true),
  warnings: registrationWarningsSchema,
});

/** A registered cloud as the API returns it: never a password, secret key or session token. */
export const publicCloudSchema = z.discriminatedUnion('provider', [publicOpenstackCloudSchema, publicEc2CloudSchema]);
/** A registered cloud as the API returns it. */
export type PublicCloud = z.output<typeof publicCloudSchema>;

/** Masks an access key id to `****` plus its last four characters (all masked if shorter than 12). */
export function maskAccessKeyId(accessKeyId: string): string {
  return accessKeyId.length >= 12 ? `****${accessKeyId.slice(-4)}` : '****';
}

/** The view of a registered cloud that may be shown: everything but the secrets. */
export function toPublicCloud(name: string, registration: CloudRegistration): PublicCloud {
  switch (registration.provider) {
    case 'openstack':
      return {
        name,
        provider: 'openstack',
        authUrl: registration.authUrl,
        region: registration.region,
        interface: registration.interface,
        project: registration.credentials.project,
        domain: registration.credentials.domain,
        ...(registration.network === undefined ? {} : { network: registration.network }),
        limits: registration.limits,
        credentialsSet: true,
      };
    case 'ec2':
      return {
        name,
        provider: 'ec2',
        endpoint: registration.endpoint,
        region: registration.region,
        accessKeyId: maskAccessKeyId(registration.credentials.accessKeyId),
        limits: registration.limits,
        credentialsSet: true,
      };
  }
}

/**
 * A cloud's full registration, credentials included, as the registry hands it to Defib's own
 * services (`GET /v1/clouds/{name}/connection`, service scope only), which keep it sealed. Never
 * logged, never put in an event or any other response.
 */
export const cloudConnectionSchema = z.strictObject({
  name: nameSchema,
  registration: cloudRegistrationSchema,
  /** When the registration last changed: a service keeps the newest copy it has seen. */
  updatedAt: z.iso.datetime({ offset: true }),
});
/** A cloud's name and full registration, credentials included. */
export type CloudConnection = z.output<typeof cloudConnectionSchema>;
