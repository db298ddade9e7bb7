/**
 * The EC2 driver on the failures a real EC2 endpoint (or the network to it) can produce and the
 * simulator cannot on demand, scripted with nock: throttling, outages with Retry-After, answers cut
 * short, resets, hangs, refused credentials, and throttling that lasts longer than any caller
 * should wait. Every failure is a CloudError naming the cloud and the EC2 action, without secrets.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ec2RegistrationSchema } from '@defib/contracts';
import { createCloudCaller } from '../driver/cloud-call.ts';
import type { RetryPolicy } from '../driver/cloud-call.ts';
import { CloudLimiter } from '../driver/cloud-limiter.ts';
import { createEc2Driver } from './ec2-driver.ts';
import type { CloudDriver } from '../driver/cloud-driver.ts';
import { cloudFailure as failure } from '../testing.ts';

const endpoint = 'http://ec2.example.test';
const secretAccessKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const sessionToken = 'FQoGZXIvYXdzEXAMPLESESSIONTOKEN';
const instanceId = 'i-0123456789abcdef0';

let driver: CloudDriver | undefined;

function driverWith(policy: Partial<RetryPolicy> = {}, url = endpoint): CloudDriver {
  driver?.close();
  const registration = ec2RegistrationSchema.parse({ provider: 'ec2', endpoint: `${url}/`, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey, sessionToken } });
  const caller = createCloudCaller({
    cloud: 'aws-east',
    limiter: new CloudLimiter({ requestsPerSecond: 1_000, concurrency: 10 }),
    policy: { attemptTimeoutMs: 2_000, initialDelayMs: 10, maxDelayMs: 50, budgetMs: 5_000, ...policy },
    random: () => 0.5,
  });
  driver = createEc2Driver({ cloud: 'aws-east', registration, caller, httpTimeouts: { connectMs: 1_000, requestMs: 10_000 } });
  return driver;
}

/** Matches a Query request by its `Action`. */
function action(name: string) {
  return (body: unknown): boolean => (typeof body === 'string' ? new URLSearchParams(body).get('Action') : (body as Record<string, unknown>).Action) === name;
}

function paramsOf(body: unknown): URLSearchParams {
  return typeof body === 'string' ? new URLSearchParams(body) : new URLSearchParams(body as Record<string, string>);
}

const xml = (actionName: string, inner: string): string => `<?xml version="1.0" encoding="UTF-8"?>\n<${actionName}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>${inner}</${actionName}Response>`;
const errorXml = (code: string, message: string): string => `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>req-1</RequestID></Response>`;
const rebooted = xml('RebootInstances', '<return>true</return>');
const instanceXml = `<item><instanceId>${instanceId}</instanceId><imageId>ami-0abcdef1234567890</imageId><instanceState><code>16</code><name>running</name></instanceState><privateIpAddress>172.31.0.5</privateIpAddress><placement><availabilityZone>us-east-1a</availabilityZone></placement><tagSet><item><key>Name</key><value>db-1</value></item><item><key>defib-action</key><value>act-1</value></item></tagSet></item>`;
const launched = xml('RunInstances', `<reservationId>r-1</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${instanceXml}</instancesSet>`);


/** No message of the error or its causes carries the secret key or the session token. */
function expectNoSecrets(error: unknown): void {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    expect(current.message).not.toContain(secretAccessKey);
    expect(current.message).not.toContain(sessionToken);
  }
}

beforeEach(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  driver?.close();
  driver = undefined;
  nock.cleanAll();
  nock.enableNetConnect();
});

describe('ec2 driver requests', () => {
  it('launches with the action id as ClientToken, tags, base64 user data and the zone', async () => {
    let sent: URLSearchParams | undefined;
    nock(endpoint)
      .post('/', (body: unknown) => {
        sent = paramsOf(body);
        return action('RunInstances')(body);
      })
      .reply(200, launched);
    const instance = await driverWith().launch({ actionId: 'act-1', name: 'db-1', image: 'ami-0abcdef1234567890', flavor: 't3.micro', userData: 'hello', zone: 'us-east-1a', metadata: { assembly: 'db', 'defib-managed': 'no' } });
    expect(instance).toMatchObject({ id: instanceId, name: 'db-1', state: 'running', actionId: 'act-1', zone: 'us-east-1a', addresses: [{ address: '172.31.0.5', type: 'fixed', version: 4 }] });
    expect(Object.fromEntries(sent ?? [])).toMatchObject({
      ImageId: 'ami-0abcdef1234567890',
      InstanceType: 't3.micro',
      MinCount: '1',
      MaxCount: '1',
      ClientToken: 'act-1',
      UserData: Buffer.from('hello').toString('base64'),
      'Placement.AvailabilityZone': 'us-east-1a',
      'TagSpecification.1.ResourceType': 'instance',
      'TagSpecification.1.Tag.1.Key': 'assembly',
      'TagSpecification.1.Tag.2.Key': 'defib-action',
      'TagSpecification.1.Tag.2.Value': 'act-1',
      'TagSpecification.1.Tag.3.Key': 'defib-managed',
      'TagSpecification.1.Tag.3.Value': 'true',
      'TagSpecification.1.Tag.4.Key': 'Name',
      'TagSpecification.1.Tag.4.Value': 'db-1',
    });
  });

  it('repeats a launch whose answer did not come in time with the same ClientToken', async () => {
    const tokens: (string | null)[] = [];
    const record = (body: unknown): boolean => {
      tokens.push(paramsOf(body).get('ClientToken'));
      return true;
    };
    nock(endpoint).post('/', record).delay(2_000).reply(200, launched).post('/', record).reply(200, launched);
    await driverWith({ attemptTimeoutMs: 200 }).launch({ actionId: 'act-1', name: 'db-1', image: 'ami-0abcdef1234567890', flavor: 't3.micro' });
    expect(tokens).toEqual(['act-1', 'act-1']);
  });
});

describe('ec2 driver errors', () => {
  it('retries after RequestLimitExceeded and succeeds', async () => {
    const scope = nock(endpoint).post('/', action('RebootInstances')).reply(503, errorXml('RequestLimitExceeded', 'Request limit exceeded.')).post('/', action('RebootInstances')).reply(200, rebooted);
    await driverWith().reboot(instanceId, { hard: false });
    expect(scope.isDone()).toBe(true);
  });

  it('reads Retry-After of a 503 Unavailable', async () => {
    nock(endpoint).post('/', action('RebootInstances')).reply(503, errorXml('Unavailable', 'The service is unavailable.'), { 'Retry-After': '7' });
    const error = await failure(driverWith({ maxAttempts: 1 }).reboot(instanceId, { hard: false }));
    expect(error).toMatchObject({ kind: 'unavailable', status: 503, code: 'Unavailable', retryAfterMs: 7_000, cloud: 'aws-east', operation: 'RebootInstances' });
    expect(error.message).toMatch(/^cloud aws-east: RebootInstances failed: Unavailable: The service is unavailable\. \(HTTP 503\)/);
  });

  it('calls an answer cut short unavailable and retries it', async () => {
    const truncated = launched.slice(0, launched.indexOf('<instanceState>') + 20);
    nock(endpoint).post('/', action('RebootInstances')).reply(200, xml('RebootInstances', '<return>tr')).post('/', action('RebootInstances')).reply(200, rebooted);
    await driverWith().reboot(instanceId, { hard: false });
    nock(endpoint).post('/', action('RunInstances')).reply(200, truncated);
    const error = await failure(driverWith({ maxAttempts: 1 }).launch({ actionId: 'act-1', name: 'db-1', image: 'ami-0abcdef1234567890', flavor: 't3.micro' }));
    expect(error).toMatchObject({ kind: 'unavailable', operation: 'RunInstances' });
    expect(error.message).toMatch(/^cloud aws-east: RunInstances failed: unreadable answer \(HTTP 200\)/);
  });

  it('calls an HTML error page from a proxy unavailable', async () => {
    nock(endpoint).post('/').reply(502, '<html><body>Bad Gateway</body></html>', { 'Content-Type': 'text/html' });
    const error = await failure(driverWith({ maxAttempts: 1 }).reboot(instanceId, { hard: false }));
    expect(error).toMatchObject({ kind: 'unavailable', status: 502 });
    expect(error.message).toMatch(/^cloud aws-east: RebootInstances failed: unreadable answer \(HTTP 502\)/);
  });

  it('calls a connection reset after the request was sent a reset whose outcome is unknown, and retries it', async () => {
    // A real socket: nock's injected errors do not reach the SDK as a reset does.
    let connections = 0;
    let resets = 1;
    const server = createServer((socket) =>
      socket.once('data', () => {
        connections++;
        if (resets-- > 0) socket.resetAndDestroy();
        else socket.end(`HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${Buffer.byteLength(rebooted)}\r\nConnection: close\r\n\r\n${rebooted}`);
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    nock.enableNetConnect('127.0.0.1');
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await driverWith({}, url).reboot(instanceId, { hard: false });
      expect(connections).toBe(2);
      resets = 1;
      const error = await failure(driverWith({ maxAttempts: 1 }, url).reboot(instanceId, { hard: false }));
      expect(error).toMatchObject({ kind: 'unavailable', outcomeUnknown: true });
      expect(error.message).toMatch(/^cloud aws-east: RebootInstances failed: connection reset \(ECONNRESET\)/);
    } finally {
      server.close();
    }
  });

  it('gives up on a hanging connection at the attempt timeout, naming the cloud and the operation', async () => {
    nock(endpoint).post('/').delay(5_000).reply(200, rebooted);
    const error = await failure(driverWith({ attemptTimeoutMs: 200, maxAttempts: 1 }).reboot(instanceId, { hard: false }));
    expect(error).toMatchObject({ kind: 'unavailable', outcomeUnknown: true });
    expect(error.message).toBe('cloud aws-east: RebootInstances failed: no answer within the timeout (gave up after 1 attempt in 0.2 s)');
  });

  it('does not retry refused credentials', async () => {
    const scope = nock(endpoint).post('/').reply(401, errorXml('AuthFailure', 'AWS was not able to validate the provided access credentials'));
    const error = await failure(driverWith().checkAccess());
    expect(error).toMatchObject({ kind: 'auth', code: 'AuthFailure', status: 401, operation: 'DescribeRegions' });
    expect(scope.isDone()).toBe(true);
  });

  it('gives up on throttling that lasts within the budget, saying so', async () => {
    nock(endpoint).post('/').times(100).reply(503, errorXml('RequestLimitExceeded', 'Request limit exceeded.'));
    const started = Date.now();
    const error = await failure(driverWith({ budgetMs: 400, initialDelayMs: 50, maxDelayMs: 100, maxAttempts: 100 }).reboot(instanceId, { hard: false }));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error.kind).toBe('throttled');
    expect(error.message).toMatch(/^cloud aws-east: RebootInstances failed: RequestLimitExceeded: Request limit exceeded\. \(HTTP 503\) \(gave up after \d+ attempts in 0\.\d s\)$/);
  });

  it.each([
    ['InvalidInstanceID.NotFound', 400, 'not-found'],
    ['InvalidInstanceID.Malformed', 400, 'rejected'],
    ['IncorrectInstanceState', 400, 'conflict'],
    ['UnauthorizedOperation', 403, 'auth'],
    ['IdempotentParameterMismatch', 400, 'rejected'],
    ['InstanceLimitExceeded', 400, 'rejected'],
    ['InsufficientInstanceCapacity', 500, 'unavailable'],
    ['SomethingNew', 400, 'rejected'],
  ] as const)('maps %s (HTTP %i) to %s', async (code, status, kind) => {
    nock(endpoint).post('/').reply(status, errorXml(code, 'as EC2 says it'));
    expect(await failure(driverWith({ maxAttempts: 1 }).stop(instanceId))).toMatchObject({ kind, code, status, operation: 'StopInstances' });
  });

  it('counts terminating an instance EC2 no longer knows as done', async () => {
    nock(endpoint).post('/', action('TerminateInstances')).reply(400, errorXml('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`));
    await driverWith().terminate(instanceId);
  });

  it('keeps the secret key and session token out of every message, even when echoed back', async () => {
    nock(endpoint).post('/').reply(400, errorXml('InvalidParameterValue', `bad value ${secretAccessKey} and ${sessionToken}`));
    const echoed = await failure(driverWith({ maxAttempts: 1 }).reboot(instanceId, { hard: false }));
    expect(echoed.message).toContain('bad value **** and ****');
    expectNoSecrets(echoed);
    nock(endpoint).post('/').replyWithError({ code: 'EPROTO', message: `proxy said ${sessionToken}` });
    const transport = await failure(driverWith({ maxAttempts: 1 }).reboot(instanceId, { hard: false }));
    expect(transport.kind).toBe('unavailable');
    expectNoSecrets(transport);
  });
});
