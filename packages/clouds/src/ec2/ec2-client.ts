/**
 * The AWS SDK client for one registered EC2 cloud: its endpoint, region and credentials, no
 * retries of its own (retries are the {@link CloudCaller}'s, so the limiter counts every request),
 * and HTTP timeouts so a black-holed connection fails fast even before the caller's attempt timeout.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import type { Ec2Registration } from '@defib/contracts';

/** HTTP timeouts of the client, in milliseconds. */
export interface Ec2HttpTimeouts {
  /** Establishing the TCP (and TLS) connection. */
  readonly connectMs: number;
  /** Waiting for the whole answer once the request is sent. */
  readonly requestMs: number;
}

export const defaultEc2HttpTimeouts: Ec2HttpTimeouts = { connectMs: 5_000, requestMs: 30_000 };

export function createEc2Client(registration: Ec2Registration, timeouts: Ec2HttpTimeouts = defaultEc2HttpTimeouts): EC2Client {
  const { accessKeyId, secretAccessKey, sessionToken } = registration.credentials;
  return new EC2Client({
    endpoint: registration.endpoint,
    region: registration.region,
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) },
    maxAttempts: 1,
    requestHandler: { connectionTimeout: timeouts.connectMs, requestTimeout: timeouts.requestMs },
  });
}
