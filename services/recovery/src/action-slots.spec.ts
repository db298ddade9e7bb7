import { describe, expect, it } from 'vitest';
import { ActionSlots, type SlotRequest } from './action-slots.ts';

const request = (overrides: Partial<SlotRequest> = {}): SlotRequest => ({ cloud: 'sim-openstack', healthyShare: 0.5, incidentOpenedAt: 1_000, ...overrides });

/** Lets every settled promise's callbacks run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Acquires for each request and records, by label, the order the slots are granted in. */
function queue(slots: ActionSlots, requests: Record<string, SlotRequest>): { granted: string[]; releases: Map<string, () => void> } {
  const granted: string[] = [];
  const releases = new Map<string, () => void>();
  for (const [label, slotRequest] of Object.entries(requests)) {
    void slots.acquire(slotRequest).then((release) => {
      granted.push(label);
      releases.set(label, release);
    });
  }
  return { granted, releases };
}

describe('action slots', () => {
  it('never runs more actions on a cloud than its limit', async () => {
    const slots = new ActionSlots(() => 2);
    const { granted, releases } = queue(slots, { a: request(), b: request(), c: request(), d: request() });
    await settle();
    expect(granted).toEqual(['a', 'b']);
    expect(slots.snapshot()).toEqual({ 'sim-openstack': { running: 2, waiting: 2, peak: 2 } });
    releases.get('a')?.();
    await settle();
    expect(granted).toEqual(['a', 'b', 'c']);
    expect(slots.snapshot()['sim-openstack']).toEqual({ running: 2, waiting: 1, peak: 2 });
  });

  it('gives the next slot to the deployable with the fewest healthy assemblies, then the oldest incident, then the first to ask', async () => {
    const slots = new ActionSlots(() => 1);
    const first = await slots.acquire(request());
    const { granted, releases } = queue(slots, {
      'half-healthy-old': request({ healthyShare: 0.5, incidentOpenedAt: 100 }),
      'none-healthy-new': request({ healthyShare: 0, incidentOpenedAt: 900 }),
      'none-healthy-old-second': request({ healthyShare: 0, incidentOpenedAt: 200 }),
      'none-healthy-old-third': request({ healthyShare: 0, incidentOpenedAt: 200 }),
      'mostly-healthy': request({ healthyShare: 0.9, incidentOpenedAt: 0 }),
    });
    first();
    for (let step = 0; step < 5; step++) {
      await settle();
      releases.get(granted.at(-1) ?? '')?.();
    }
    expect(granted).toEqual(['none-healthy-old-second', 'none-healthy-old-third', 'none-healthy-new', 'half-healthy-old', 'mostly-healthy']);
  });

  it('releases once however often release is called', async () => {
    const slots = new ActionSlots(() => 1);
    const release = await slots.acquire(request());
    const { granted } = queue(slots, { b: request(), c: request() });
    release();
    release();
    await settle();
    expect(granted).toEqual(['b']);
    expect(slots.snapshot()['sim-openstack']).toMatchObject({ running: 1, waiting: 1 });
  });

  it('withdraws a waiting request when its signal aborts, rejecting with the reason', async () => {
    const slots = new ActionSlots(() => 1);
    const release = await slots.acquire(request());
    const controller = new AbortController();
    const withdrawn = slots.acquire(request({ signal: controller.signal }));
    const { granted } = queue(slots, { later: request() });
    const reason = new Error('the incident closed');
    controller.abort(reason);
    await expect(withdrawn).rejects.toBe(reason);
    expect(slots.snapshot()['sim-openstack']?.waiting).toBe(1);
    release();
    await settle();
    expect(granted).toEqual(['later']);
  });

  it('refuses at once a request whose signal has already aborted', async () => {
    const slots = new ActionSlots(() => 1);
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(slots.acquire(request({ signal: controller.signal }))).rejects.toThrow('gone');
    expect(slots.snapshot()['sim-openstack']).toBeUndefined();
  });

  it('keeps each cloud to its own limit', async () => {
    const slots = new ActionSlots((cloud) => (cloud === 'sim-ec2' ? 1 : 3));
    const { granted } = queue(slots, {
      ec2a: request({ cloud: 'sim-ec2' }),
      ec2b: request({ cloud: 'sim-ec2' }),
      os1: request(),
      os2: request(),
      os3: request(),
      os4: request(),
    });
    await settle();
    expect(granted.sort()).toEqual(['ec2a', 'os1', 'os2', 'os3']);
    expect(slots.snapshot()).toEqual({ 'sim-ec2': { running: 1, waiting: 1, peak: 1 }, 'sim-openstack': { running: 3, waiting: 1, peak: 3 } });
  });
});
