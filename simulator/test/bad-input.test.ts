/**
 * Every API the simulator serves — its control API, Keystone, Nova and EC2 — refuses hostile
 * bodies with a 4xx (the shared table in `test/support/hostile-input.ts`) and keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectHostileBodiesRefused, hostileBodies, type HostileBody } from '../../test/support/hostile-input.ts';
import { adminToken, startSimulator, type RunningSimulator } from './support/simulator-harness.ts';

const BODY_LIMIT_BYTES = 1_048_576;

describe('simulator: bad input', () => {
  let sim: RunningSimulator;
  let token: string;
  let serverId: string;

  beforeAll(async () => {
    sim = await startSimulator();
    token = await adminToken(sim.url);
    const imageRef = sim.simulator.clouds.get('sim-openstack')?.images[0]?.id ?? '';
    const created = await fetch(`${sim.url}/compute/v2.1/servers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-auth-token': token },
      body: JSON.stringify({ server: { name: 'target', imageRef, flavorRef: '1', networks: 'auto' } }),
    });
    expect(created.status).toBe(202);
    serverId = ((await created.json()) as { server: { id: string } }).server.id;
  });

  afterAll(async () => {
    await sim?.stop();
  });

  const post = (path: string, headers: Record<string, string> = {}) => (body: HostileBody) =>
    fetch(`${sim.url}${path}`, { method: 'POST', headers: { ...headers, 'content-type': body.contentType }, body: body.raw });
  const alive = () => fetch(`${sim.url}/healthz`);

  it('answers a scenario with a recursive alias with a 400 that points at the alias', async () => {
    const response = await fetch(`${sim.url}/_sim/scenarios`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: 'seed: s\nclouds: &c\n  - *c\n' });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { issues: { path: string; message: string; line?: number }[] };
    expect(problem.issues).toEqual([expect.objectContaining({ path: 'body', message: expect.stringContaining('*c') as unknown, line: 3 })]);
    expect((await alive()).status).toBe(200);
  });

  it('refuses hostile bodies on the control API', async () => {
    await expectHostileBodiesRefused(
      [
        { name: 'POST /_sim/scenarios', send: post('/_sim/scenarios') },
        { name: 'POST /_sim/faults', send: post('/_sim/faults') },
      ],
      hostileBodies(BODY_LIMIT_BYTES),
      alive,
    );
  });

  it('refuses hostile bodies on Keystone and Nova', async () => {
    const withToken = { 'x-auth-token': token };
    await expectHostileBodiesRefused(
      [
        { name: 'POST /identity/v3/auth/tokens', send: post('/identity/v3/auth/tokens') },
        { name: 'POST /compute/v2.1/servers', send: post('/compute/v2.1/servers', withToken) },
        { name: 'POST /compute/v2.1/servers/{id}/action', send: post(`/compute/v2.1/servers/${serverId}/action`, withToken) },
      ],
      hostileBodies(BODY_LIMIT_BYTES),
      alive,
    );
  });

  it('refuses hostile bodies and hostile Query parameters on EC2', async () => {
    const form = (name: string, raw: string): HostileBody => ({ name, raw, contentType: 'application/x-www-form-urlencoded' });
    const run = 'Action=RunInstances&ImageId=fedora-40&InstanceType=m1.small';
    await expectHostileBodiesRefused(
      [{ name: 'POST /ec2/', send: post('/ec2/') }],
      hostileBodies(BODY_LIMIT_BYTES, [
        form('no action', 'Version=2016-11-15'),
        form('an action that is an Object property', 'Action=__proto__'),
        form('an action named constructor', 'Action=constructor'),
        form('counts that are not numbers', `${run}&MinCount=abc&MaxCount=1`),
        form('negative counts', `${run}&MinCount=-1&MaxCount=-1`),
        form('a count beyond any quota', `${run}&MinCount=1&MaxCount=1000000000`),
        form('user data that is not base64', `${run}&MinCount=1&MaxCount=1&UserData=%25%25%25`),
        form('bracketed parameter names nested deep', `${run}&MinCount=1&MaxCount=1&a${'[a]'.repeat(2_000)}=1`),
        form('a thousand instance ids', `Action=TerminateInstances&${Array.from({ length: 1_000 }, (_, index) => `InstanceId.${index + 1}=i-${index}`).join('&')}`),
        form('an instance id of a megabyte', `Action=StopInstances&InstanceId.1=${'i'.repeat(BODY_LIMIT_BYTES - 64)}`),
      ]),
      alive,
    );
  });
});
