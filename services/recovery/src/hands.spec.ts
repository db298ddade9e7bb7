import { randomUUID } from 'node:crypto';
import { CloudError, type CloudDriver, type CloudInstance, type InstanceState } from '@defib/clouds';
import type { PingReply, ResourceReply } from '@defib/contracts';
import { AgentCommandError, createLogger, RealClock } from '@defib/platform';
import { describe, expect, it } from 'vitest';
import { FenceUnconfirmed, RecoveryHands, VerificationFailed, type HandsOptions } from './hands.ts';

const CLOUD = 'sim-openstack';
const VM = 'vm-1';

function instance(state: InstanceState, cloudStatus = state.toUpperCase()): CloudInstance {
  return { id: VM, name: 'db', state, cloudStatus, addresses: [], metadata: {} };
}

/** A driver whose describe answers from `looks` in turn (the last one repeats); an Error is thrown. */
function driverWith(looks: (CloudInstance | Error)[], overrides: Partial<CloudDriver> = {}): CloudDriver & { calls: string[] } {
  const calls: string[] = [];
  let look = 0;
  const record = (name: string) => () => {
    calls.push(name);
    return Promise.resolve();
  };
  return {
    cloud: CLOUD,
    provider: 'openstack',
    calls,
    checkAccess: record('checkAccess'),
    offerings: () => Promise.resolve({ images: [], flavors: [] }),
    launch: () => Promise.resolve(instance('pending')),
    list: () => Promise.resolve([]),
    describe() {
      calls.push('describe');
      const answer = looks[Math.min(look++, looks.length - 1)] as CloudInstance | Error;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    reboot: (_id, { hard }) => {
      calls.push(hard ? 'reboot-hard' : 'reboot-soft');
      return Promise.resolve();
    },
    start: record('start'),
    stop: record('stop'),
    terminate: record('terminate'),
    close: () => undefined,
    ...overrides,
  };
}

const cloudError = (kind: CloudError['kind']) => new CloudError(kind, CLOUD, 'describe', kind);

function handsWith(driver: CloudDriver, agents: Partial<HandsOptions['agents']> = {}, overrides: Partial<HandsOptions> = {}): RecoveryHands {
  return new RecoveryHands({
    driverFor: () => Promise.resolve(driver),
    agents: { send: () => Promise.reject(new Error('no agent')), ping: () => Promise.reject(new Error('no agent')), ...agents },
    clock: new RealClock(),
    bootTimeoutMs: 1_000,
    commandTimeoutMs: 200,
    verifyIntervalMs: 5,
    fenceTimeoutMs: 300,
    logger: createLogger({ service: 'hands-spec', level: 'silent' }),
    ...overrides,
  });
}

const assemblyId = randomUUID();
/** What every reply from the agent on VM carries. */
const replyFrom = () => ({ kind: 'reply', protocol: 1, commandId: randomUUID(), assemblyId, instanceId: VM, ok: true, completedAt: Date.now(), mac: 'x'.repeat(43) }) as const;
const ping = (overrides: Partial<PingReply> = {}): PingReply => ({ ...replyFrom(), action: 'ping', bootId: 'boot-2', sequence: 3, resources: [{ name: 'mysqld', state: 'running' }], ...overrides });
const resourceReply = (overrides: Partial<ResourceReply> = {}): ResourceReply => ({ ...replyFrom(), resource: 'mysqld', state: 'running', ...overrides });
const noAgent = () => new AgentCommandError('no-agent-listening', { commandId: randomUUID(), assemblyId }, 'nobody');

describe('fence', () => {
  it('is confirmed by the cloud showing the VM terminated, not while it is still terminating', async () => {
    const driver = driverWith([instance('terminating'), instance('terminating'), instance('terminated', 'DELETED')]);
    await expect(handsWith(driver).fence(CLOUD, VM)).resolves.toEqual({ action: 'terminate', confirmedBy: 'cloud-status', cloudStatus: 'DELETED' });
    expect(driver.calls).toEqual(['terminate', 'describe', 'describe', 'describe']);
  });

  it('is confirmed by a stopped VM, or by the cloud no longer knowing it', async () => {
    await expect(handsWith(driverWith([instance('stopped', 'SHUTOFF')])).fence(CLOUD, VM)).resolves.toMatchObject({ confirmedBy: 'cloud-status', cloudStatus: 'SHUTOFF' });
    await expect(handsWith(driverWith([instance('stopping'), cloudError('not-found')])).terminate(CLOUD, VM)).resolves.toEqual({ confirmedBy: 'cloud-gone', cloudStatus: 'gone' });
  });

  it('tries again through cloud errors, the terminate included', async () => {
    let refusals = 1;
    const driver = driverWith([cloudError('unavailable'), cloudError('throttled'), instance('terminated')], {
      terminate: () => (refusals-- > 0 ? Promise.reject(cloudError('unavailable')) : Promise.resolve()),
    });
    await expect(handsWith(driver).fence(CLOUD, VM)).resolves.toMatchObject({ confirmedBy: 'cloud-status' });
  });

  it('is unconfirmed when the time is up, naming what the cloud last said', async () => {
    const startedAt = Date.now();
    const failure = await handsWith(driverWith([instance('stopping', 'ACTIVE/powering-off')])).fence(CLOUD, VM).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(FenceUnconfirmed);
    expect(failure).toMatchObject({ lastStatus: 'ACTIVE/powering-off' });
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });

  it('does not wait for a cloud call beyond its deadline', async () => {
    const driver = driverWith([instance('running')], { terminate: () => new Promise<void>(() => undefined) });
    const startedAt = Date.now();
    await expect(handsWith(driver).fence(CLOUD, VM)).rejects.toMatchObject({ name: 'FenceUnconfirmed', lastStatus: undefined });
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });
});

describe('power', () => {
  it('maps each action onto the driver', async () => {
    const driver = driverWith([instance('running')]);
    const hands = handsWith(driver);
    await hands.power(CLOUD, VM, 'reboot-soft');
    await hands.power(CLOUD, VM, 'reboot-hard');
    await hands.power(CLOUD, VM, 'start');
    expect(driver.calls).toEqual(['reboot-soft', 'reboot-hard', 'start']);
  });

  it('counts a conflict as done when the VM is already where the action leads, and not otherwise', async () => {
    const conflict = () => Promise.reject(new CloudError('conflict', CLOUD, 'start', 'already running'));
    await expect(handsWith(driverWith([instance('running')], { start: conflict })).power(CLOUD, VM, 'start')).resolves.toBeUndefined();
    await expect(handsWith(driverWith([instance('rebooting')], { reboot: conflict })).power(CLOUD, VM, 'reboot-hard')).resolves.toBeUndefined();
    await expect(handsWith(driverWith([instance('stopped')], { reboot: conflict })).power(CLOUD, VM, 'reboot-soft')).rejects.toMatchObject({ kind: 'conflict' });
  });
});

describe('awaitAgent', () => {
  it('keeps pinging through silence until the expected VM answers from a new boot', async () => {
    const answers: (PingReply | Error)[] = [noAgent(), ping({ instanceId: 'old-vm' }), ping({ bootId: 'boot-1' }), ping({ bootId: 'boot-2' })];
    const hands = handsWith(driverWith([]), {
      ping: () => {
        const answer = answers.shift() as PingReply | Error;
        return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
      },
    });
    await expect(hands.awaitAgent(assemblyId, { instanceId: VM, otherThanBoot: 'boot-1' })).resolves.toMatchObject({ bootId: 'boot-2' });
    expect(answers).toEqual([]);
  });

  it('fails as wrong-instance when only another VM answered, and as timeout when the boot never changed', async () => {
    const fromOld = handsWith(driverWith([]), { ping: () => Promise.resolve(ping({ instanceId: 'old-vm' })) });
    await expect(fromOld.awaitAgent(assemblyId, { instanceId: VM }, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'wrong-instance', reply: { instanceId: 'old-vm' } });
    const sameBoot = handsWith(driverWith([]), { ping: () => Promise.resolve(ping({ bootId: 'boot-1' })) });
    await expect(sameBoot.awaitAgent(assemblyId, { instanceId: VM, otherThanBoot: 'boot-1' }, { timeoutMs: 50 })).rejects.toThrow(/did not reboot/);
  });

  it('fails at once as vm-failed when the silent VM is in error or gone, and keeps waiting while it builds', async () => {
    const silent = { ping: () => Promise.reject(noAgent()) };
    await expect(handsWith(driverWith([instance('error', 'ERROR')]), silent).awaitAgent(assemblyId, { instanceId: VM, cloud: CLOUD }, { timeoutMs: 60_000 })).rejects.toThrow(/will not answer: the cloud says ERROR/);
    const gone = new CloudError('not-found', CLOUD, 'describe', 'no such server');
    await expect(handsWith(driverWith([gone]), silent).awaitAgent(assemblyId, { instanceId: VM, cloud: CLOUD }, { timeoutMs: 60_000 })).rejects.toMatchObject({ code: 'vm-failed' });
    const building = driverWith([instance('pending', 'BUILD')]);
    await expect(handsWith(building, silent).awaitAgent(assemblyId, { instanceId: VM, cloud: CLOUD }, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'timeout' });
    expect(building.calls.filter((call) => call === 'describe').length).toBeGreaterThan(0);
  });

  it('lets other failures through', async () => {
    const closed = new AgentCommandError('closed', { commandId: randomUUID(), assemblyId }, 'closed');
    await expect(handsWith(driverWith([]), { ping: () => Promise.reject(closed) }).awaitAgent(assemblyId, { instanceId: VM })).rejects.toBe(closed);
  });
});

describe('resource commands', () => {
  it('sends a restart with the given command id, the clock as issuedAt and the command timeout as deadline, then checks it runs', async () => {
    const sent: unknown[] = [];
    const commandId = randomUUID();
    const hands = handsWith(driverWith([]), {
      send: (command) => {
        sent.push(command);
        return Promise.resolve(resourceReply({ commandId }));
      },
      ping: () => Promise.resolve(ping()),
    });
    const before = Date.now();
    await expect(hands.restartResource(assemblyId, 'mysqld', commandId)).resolves.toMatchObject({ ok: true, commandId });
    expect(sent).toEqual([{ kind: 'command', protocol: 1, action: 'restart', assemblyId, resource: 'mysqld', commandId, issuedAt: expect.any(Number) as number, deadlineMs: 200 }]);
    expect((sent[0] as { issuedAt: number }).issuedAt).toBeGreaterThanOrEqual(before - 1);
  });

  it('refuses a restart the agent failed, or whose resource is not running at the check', async () => {
    const failed = handsWith(driverWith([]), { send: () => Promise.resolve(resourceReply({ ok: false, state: 'failed', error: 'exit 1' })) });
    await expect(failed.restartResource(assemblyId, 'mysqld', randomUUID())).rejects.toMatchObject({ code: 'refused' });
    const crashedAgain = handsWith(driverWith([]), { send: () => Promise.resolve(resourceReply()), ping: () => Promise.resolve(ping({ resources: [{ name: 'mysqld', state: 'failed' }] })) });
    await expect(crashedAgain.restartResource(assemblyId, 'mysqld', randomUUID())).rejects.toMatchObject({ code: 'refused' });
  });

  it('calls a command nobody answers a timeout', async () => {
    const failure = await handsWith(driverWith([]), { send: () => Promise.reject(noAgent()) })
      .reconfigure(assemblyId, 'mysqld', { MODE: 'x' }, randomUUID())
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(VerificationFailed);
    expect(failure).toMatchObject({ code: 'timeout' });
  });
});
