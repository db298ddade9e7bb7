import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator } from './support/simulator-harness.ts';
import type { RunningSimulator } from './support/simulator-harness.ts';

interface CloudsBody {
  clouds: { name: string; provider: string; region: string; vms: { id: string; phase: string; providerState: unknown; addresses: { address: string }[] }[] }[];
}

let sim: RunningSimulator;
beforeEach(async () => {
  sim = await startSimulator();
});
afterEach(() => sim.stop());

const clouds = async (): Promise<CloudsBody['clouds']> => ((await (await fetch(`${sim.url}/_sim/clouds`)).json()) as CloudsBody).clouds;

function launch(): string {
  const cloud = sim.simulator.clouds.get('sim-ec2');
  return cloud?.create({ name: 'x', imageId: cloud.images[0]?.id ?? '', flavorId: 't3.micro' })[0]?.id ?? '';
}

describe('simulator control api', () => {
  it('answers /healthz with 200', async () => {
    expect((await fetch(`${sim.url}/healthz`)).status).toBe(200);
  });

  it('lists the clouds and their VMs with provider states', async () => {
    const id = launch();
    const [openstack, ec2] = await clouds();
    expect(openstack).toMatchObject({ name: 'sim-openstack', provider: 'openstack', region: 'RegionOne', vms: [] });
    expect(ec2?.vms).toEqual([expect.objectContaining({ id, phase: 'building', providerState: { code: 0, name: 'pending' } })]);
  });

  it('resets every cloud so that the same requests give the same ids and addresses again', async () => {
    const first = launch();
    const before = (await clouds())[1]?.vms[0]?.addresses;
    const reset = await fetch(`${sim.url}/_sim/reset`, { method: 'POST' });
    expect(reset.status).toBe(204);
    expect((await clouds())[1]?.vms).toEqual([]);
    expect(launch()).toBe(first);
    expect((await clouds())[1]?.vms[0]?.addresses).toEqual(before);
  });

  it('answers unknown paths with a 404 problem document, never HTML', async () => {
    for (const path of ['/_sim/nothing', '/nothing']) {
      const response = await fetch(`${sim.url}${path}`);
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
    }
  });
});
