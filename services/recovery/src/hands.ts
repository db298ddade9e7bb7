/**
 * Recovery's hands: every side effect recovery has on clouds and agents, each with one clear
 * outcome the escalation can decide on. A launch is idempotent per action id; a power action that
 * finds the VM already where it should be counts as done; a fence is done only when the cloud
 * confirms the VM no longer runs; an agent is verified only by an answer from the expected VM
 * (and, after a reboot, from a new boot of it).
 */
import { isCloudError, type CloudDriver, type CloudInstance } from '@defib/clouds';
import { AGENT_PROTOCOL_VERSION, isPingReply, type AgentCommand, type PingReply, type ResourceReply, type Unsigned } from '@defib/contracts';
import { AgentCommandError, type AgentChannel, type Clock, type Logger } from '@defib/platform';

export interface HandsOptions {
  /** The driver of a registered cloud (credentials from recovery's sealed copy). */
  driverFor: (cloud: string) => Promise<CloudDriver>;
  agents: Pick<AgentChannel, 'send' | 'ping'>;
  clock: Clock;
  /** How long a launched, rebooted or started VM has to answer its first ping. */
  bootTimeoutMs: number;
  /** How long an agent has to answer one command; also each command's `deadlineMs`. */
  commandTimeoutMs: number;
  /** How often a VM being verified is pinged, and the first pause between looks at a VM being fenced. */
  verifyIntervalMs: number;
  /** How long a terminate may take to be confirmed by the cloud. */
  fenceTimeoutMs: number;
  logger: Logger;
}

/** How often a VM that does not answer yet is looked at in its cloud (to fail at once when it went to error). */
const VM_LOOK_INTERVAL_MS = 1_000;

/** Why a VM or resource could not be verified. */
export type VerificationFailure = 'timeout' | 'wrong-instance' | 'refused' | 'aborted' | 'vm-failed';

/**
 * An action's result could not be verified: no answer in time (`timeout`), answers only from
 * another VM (`wrong-instance`), the agent said no or the resource is not running (`refused`),
 * the cloud says the VM failed or is gone (`vm-failed`: a build that ended in ERROR, a VM on a
 * dead host), or the caller gave up (`aborted`). Carries the last reply seen, if any.
 */
export class VerificationFailed extends Error {
  readonly code: VerificationFailure;
  readonly reply: PingReply | ResourceReply | undefined;

  constructor(code: VerificationFailure, message: string, options: { reply?: PingReply | ResourceReply; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VerificationFailed';
    this.code = code;
    this.reply = options.reply;
  }
}

/** The cloud did not confirm within the fence timeout that a terminated VM stopped running: a replacement must not be launched. */
export class FenceUnconfirmed extends Error {
  /** What the cloud last said of the VM; undefined when it never answered. */
  readonly lastStatus: string | undefined;

  constructor(message: string, lastStatus: string | undefined, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'FenceUnconfirmed';
    this.lastStatus = lastStatus;
  }
}

/** What a recovery launch asks for: the assembly's spec, its agent configuration, and the action id that makes it idempotent. */
export interface LaunchOrder {
  /** The step's action id: the driver's `ClientToken` / `defib-action`, so a retried launch finds the VM of the first. */
  actionId: string;
  name: string;
  image: string;
  flavor: string;
  network?: string;
  /** The agent configuration's JSON text (see agentConfigFor). */
  userData: string;
  deployableId: string;
  assemblyId: string;
  /** The manifest's metadata and tags; both become the VM's metadata (Nova) or tags (EC2). */
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
}

/** How a terminate was confirmed: the cloud shows the VM terminated or stopped, or no longer knows it. */
export interface TerminateConfirmation {
  confirmedBy: 'cloud-status' | 'cloud-gone';
  cloudStatus: string;
}

/** The metadata keys naming a VM's deployable and assembly. */
export const deployableMetadataKey = 'defib-deployable';
export const assemblyMetadataKey = 'defib-assembly';

/** The longest pause between two looks at a VM being fenced. */
const MAX_FENCE_INTERVAL_MS = 2_000;
/** States in which a VM's guest no longer runs: what confirms a fence. */
const fencedStates: ReadonlySet<CloudInstance['state']> = new Set(['terminated', 'stopped']);
/** Agent-side failures that only mean "not answering yet". */
const notYet: ReadonlySet<AgentCommandError['code']> = new Set(['no-agent-listening', 'reply-timeout', 'not-connected']);

const timeUp: unique symbol = Symbol('time up');

export class RecoveryHands {
  readonly #options: HandsOptions;
  readonly #logger: Logger;

  constructor(options: HandsOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'recovery-hands' });
  }

  /** Launches (idempotent per actionId: the driver's ClientToken / defib-action) with metadata defib-deployable, defib-assembly. */
  async launch(cloud: string, request: LaunchOrder): Promise<CloudInstance> {
    const driver = await this.#options.driverFor(cloud);
    const instance = await driver.launch({
      actionId: request.actionId,
      name: request.name,
      image: request.image,
      flavor: request.flavor,
      userData: request.userData,
      ...(request.network === undefined ? {} : { network: request.network }),
      metadata: { ...request.tags, ...request.metadata, [deployableMetadataKey]: request.deployableId, [assemblyMetadataKey]: request.assemblyId },
    });
    this.#logger.info({ cloud, actionId: request.actionId, assemblyId: request.assemblyId, instanceId: instance.id, cloudStatus: instance.cloudStatus }, 'launched');
    return instance;
  }

  /** The VM as the cloud shows it; undefined when the cloud no longer knows it (not-found). Other errors throw CloudError. */
  async describe(cloud: string, instanceId: string): Promise<CloudInstance | undefined> {
    const driver = await this.#options.driverFor(cloud);
    try {
      return await driver.describe(instanceId);
    } catch (error) {
      if (isCloudError(error) && error.kind === 'not-found') return undefined;
      throw error;
    }
  }

  /**
   * reboot-soft → driver.reboot(hard:false); reboot-hard → reboot(hard:true); start → start. A
   * `conflict` because the VM is already where the action leads (running or starting for a start,
   * rebooting for a reboot) is success; any other conflict is thrown.
   */
  async power(cloud: string, instanceId: string, action: 'reboot-soft' | 'reboot-hard' | 'start'): Promise<void> {
    const driver = await this.#options.driverFor(cloud);
    try {
      if (action === 'start') await driver.start(instanceId);
      else await driver.reboot(instanceId, { hard: action === 'reboot-hard' });
    } catch (error) {
      if (!isCloudError(error) || error.kind !== 'conflict') throw error;
      const instance = await this.describe(cloud, instanceId);
      const already = action === 'start' ? instance?.state === 'running' || instance?.state === 'pending' : instance?.state === 'rebooting';
      if (!already) throw error;
      this.#logger.info({ cloud, instanceId, action, cloudStatus: instance?.cloudStatus }, 'already where the action leads');
      return;
    }
    this.#logger.info({ cloud, instanceId, action }, 'power action accepted');
  }

  /**
   * Fences a VM before its replacement: terminate, then describe until the cloud confirms it — only `terminated`/`stopped`
   * (Nova SHUTOFF/DELETED) or not-found confirm; `stopping`/`terminating` do not. Polls every verifyIntervalMs (backing off to
   * 2 s) until fenceTimeoutMs; cloud errors meanwhile are retried. Throws FenceUnconfirmed when the time is up.
   */
  async fence(cloud: string, instanceId: string, signal?: AbortSignal): Promise<{ action: 'terminate'; confirmedBy: 'cloud-status' | 'cloud-gone'; cloudStatus: string }> {
    return { action: 'terminate', ...(await this.#terminateConfirmed(cloud, instanceId, signal)) };
  }

  /** Terminates for a stop (same confirmation as fence; a VM never created is a no-op handled by the caller). */
  terminate(cloud: string, instanceId: string, signal?: AbortSignal): Promise<TerminateConfirmation> {
    return this.#terminateConfirmed(cloud, instanceId, signal);
  }

  /**
   * Waits until the assembly's agent answers a ping FROM `instanceId` (and, if `otherThanBoot` is given, from another boot:
   * proof a reboot happened), pinging every verifyIntervalMs until timeoutMs (default bootTimeoutMs). no-agent-listening
   * and reply-timeout just mean "not yet" (as does a channel reconnecting to the broker). A reply from another instance id
   * keeps waiting (the old VM may still answer until fenced) but is remembered for the error. Resolves with the reply;
   * throws VerificationFailed.
   */
  async awaitAgent(assemblyId: string, expect: { instanceId: string; otherThanBoot?: string; cloud?: string }, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<PingReply> {
    const { clock, commandTimeoutMs, verifyIntervalMs } = this.#options;
    const timeoutMs = options.timeoutMs ?? this.#options.bootTimeoutMs;
    const deadline = clock.now() + timeoutMs;
    let fromAnother: PingReply | undefined;
    let sameBoot: PingReply | undefined;
    let nextLook = clock.now();
    for (;;) {
      const left = deadline - clock.now();
      if (options.signal?.aborted === true) throw new VerificationFailed('aborted', `stopped waiting for assembly ${assemblyId}'s agent`, { cause: options.signal.reason });
      if (left <= 0) break;
      try {
        const reply = await this.#options.agents.ping(assemblyId, { timeoutMs: Math.max(1, Math.min(commandTimeoutMs, left)) });
        if (reply.instanceId !== expect.instanceId) fromAnother = reply;
        else if (expect.otherThanBoot !== undefined && reply.bootId === expect.otherThanBoot) sameBoot = reply;
        else return reply;
      } catch (error) {
        if (!(error instanceof AgentCommandError) || !notYet.has(error.code)) throw error;
      }
      // No answer yet: a VM the cloud already shows failed will never answer, so the step fails now
      // rather than at the end of the boot timeout.
      if (expect.cloud !== undefined && clock.now() >= nextLook) {
        nextLook = clock.now() + VM_LOOK_INTERVAL_MS;
        await this.#failIfVmFailed(expect.cloud, assemblyId, expect.instanceId);
      }
      const pause = Math.min(verifyIntervalMs, deadline - clock.now());
      // An abort ends the pause early and is reported at the top of the loop.
      if (pause > 0) await this.#pause(pause, options.signal).catch(() => undefined);
    }
    if (fromAnother !== undefined) {
      throw new VerificationFailed('wrong-instance', `assembly ${assemblyId}: only VM ${fromAnother.instanceId} answered within ${timeoutMs} ms, not ${expect.instanceId}`, { reply: fromAnother });
    }
    if (sameBoot !== undefined) {
      throw new VerificationFailed('timeout', `assembly ${assemblyId}: VM ${expect.instanceId} still answers from boot ${sameBoot.bootId} after ${timeoutMs} ms: it did not reboot`, { reply: sameBoot });
    }
    throw new VerificationFailed('timeout', `assembly ${assemblyId}: VM ${expect.instanceId} did not answer within ${timeoutMs} ms`);
  }

  /** Throws VerificationFailed('vm-failed') when the cloud shows the VM in error, terminated or gone; a cloud that cannot be asked proves nothing. */
  async #failIfVmFailed(cloud: string, assemblyId: string, instanceId: string): Promise<void> {
    const instance = await this.describe(cloud, instanceId).catch(() => null);
    if (instance === null) return;
    if (instance === undefined || instance.state === 'error' || instance.state === 'terminated' || instance.state === 'terminating') {
      throw new VerificationFailed('vm-failed', `assembly ${assemblyId}: VM ${instanceId} will not answer: the cloud says ${instance?.cloudStatus ?? 'it is gone'}`);
    }
  }

  /** One ping, answered within `timeoutMs` or not at all: is the agent there now, from which VM and boot? */
  probe(assemblyId: string, timeoutMs: number): Promise<PingReply> {
    return this.#options.agents.ping(assemblyId, { timeoutMs });
  }

  /**
   * Restarts a resource through its agent with THIS commandId (a resent command reuses it, and the
   * agent answers it again rather than restarting twice), then verifies with a ping from the same VM
   * that the resource runs. The reply must be ok with the resource `running`, else
   * VerificationFailed('refused'); no answer in time is VerificationFailed('timeout').
   */
  async restartResource(assemblyId: string, resource: string, commandId: string): Promise<ResourceReply> {
    const reply = await this.#command({ action: 'restart', assemblyId, resource, commandId });
    if (!reply.ok || reply.state !== 'running') {
      throw new VerificationFailed('refused', `assembly ${assemblyId}: restarting ${resource} left it ${reply.state}${reply.error === undefined ? '' : `: ${reply.error}`}`, { reply });
    }
    const ping = await this.#ask(assemblyId, commandId, () => this.#options.agents.ping(assemblyId, { timeoutMs: this.#options.commandTimeoutMs }));
    if (ping.instanceId !== reply.instanceId) {
      throw new VerificationFailed('wrong-instance', `assembly ${assemblyId}: the restart was answered by VM ${reply.instanceId}, the check by VM ${ping.instanceId}`, { reply: ping });
    }
    const state = ping.resources.find((status) => status.name === resource)?.state ?? 'unknown';
    if (state !== 'running') throw new VerificationFailed('refused', `assembly ${assemblyId}: ${resource} is ${state} right after its restart`, { reply: ping });
    this.#logger.info({ assemblyId, resource, commandId, instanceId: reply.instanceId }, 'resource restarted and running');
    return reply;
  }

  /**
   * Gives a resource its parameters (all of them, references resolved) through its agent, with
   * THIS commandId. The reply must be ok, else VerificationFailed('refused'); no answer in time is
   * VerificationFailed('timeout').
   */
  async reconfigure(assemblyId: string, resource: string, params: Record<string, string>, commandId: string): Promise<ResourceReply> {
    const reply = await this.#command({ action: 'reconfigure', assemblyId, resource, params, commandId });
    if (!reply.ok) throw new VerificationFailed('refused', `assembly ${assemblyId}: reconfiguring ${resource} failed: ${reply.error ?? reply.state}`, { reply });
    this.#logger.info({ assemblyId, resource, commandId, instanceId: reply.instanceId }, 'resource reconfigured');
    return reply;
  }

  /** Sends a resource command stamped by the clock, valid for commandTimeoutMs, and returns the agent's reply. */
  async #command(order: { action: 'restart'; assemblyId: string; resource: string; commandId: string } | { action: 'reconfigure'; assemblyId: string; resource: string; params: Record<string, string>; commandId: string }): Promise<ResourceReply> {
    const { clock, commandTimeoutMs } = this.#options;
    const command: Unsigned<AgentCommand> = { kind: 'command', protocol: AGENT_PROTOCOL_VERSION, issuedAt: Math.floor(clock.now()), deadlineMs: commandTimeoutMs, ...order };
    const reply = await this.#ask(order.assemblyId, order.commandId, () => this.#options.agents.send(command));
    if (isPingReply(reply)) throw new VerificationFailed('refused', `assembly ${order.assemblyId} answered ${order.action} ${order.resource} with a ping reply`);
    return reply;
  }

  /** An agent call whose silence means the step failed: no-agent-listening and reply-timeout become VerificationFailed('timeout'). */
  async #ask<T>(assemblyId: string, commandId: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof AgentCommandError && (error.code === 'no-agent-listening' || error.code === 'reply-timeout')) {
        throw new VerificationFailed('timeout', `assembly ${assemblyId}: no answer to command ${commandId} (${error.code})`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * Terminate, then look until the cloud confirms. Each cloud call is waited for only until the
   * fence deadline (a driver retrying through an outage would otherwise hold the fence far beyond
   * it); cloud errors are logged and tried again at the next look.
   */
  async #terminateConfirmed(cloud: string, instanceId: string, signal: AbortSignal | undefined): Promise<TerminateConfirmation> {
    const { clock, fenceTimeoutMs } = this.#options;
    const deadline = clock.now() + fenceTimeoutMs;
    let interval = this.#options.verifyIntervalMs;
    let terminated = false;
    let lastStatus: string | undefined;
    let lastError: unknown;
    for (;;) {
      signal?.throwIfAborted();
      try {
        const driver = await this.#options.driverFor(cloud);
        if (!terminated) {
          if ((await this.#until(driver.terminate(instanceId), deadline, signal)) === timeUp) break;
          terminated = true;
          this.#logger.info({ cloud, instanceId }, 'terminate accepted; waiting for the cloud to confirm');
        }
        const instance = await this.#until(driver.describe(instanceId), deadline, signal);
        if (instance === timeUp) break;
        lastStatus = instance.cloudStatus;
        if (fencedStates.has(instance.state)) return { confirmedBy: 'cloud-status', cloudStatus: instance.cloudStatus };
      } catch (error) {
        if (isCloudError(error) && error.kind === 'not-found') return { confirmedBy: 'cloud-gone', cloudStatus: 'gone' };
        if (!isCloudError(error)) throw error;
        lastError = error;
        this.#logger.warn({ cloud, instanceId, kind: error.kind, detail: error.detail }, 'cloud error while fencing; trying again');
      }
      const pause = Math.min(interval, deadline - clock.now());
      if (pause <= 0) break;
      await this.#pause(pause, signal);
      interval = Math.min(interval * 2, MAX_FENCE_INTERVAL_MS);
    }
    const said = lastStatus === undefined ? 'the cloud never answered' : `the cloud last said ${lastStatus}`;
    throw new FenceUnconfirmed(`cloud ${cloud}: VM ${instanceId} not confirmed ${terminated ? 'gone' : 'terminated'} within ${fenceTimeoutMs} ms (${said})`, lastStatus, lastError);
  }

  /**
   * The call's result, or `timeUp` once the deadline passes first; rejects with the signal's reason
   * when it aborts first. Either way the call is left to finish on its own.
   */
  #until<T>(call: Promise<T>, deadline: number, signal: AbortSignal | undefined): Promise<T | typeof timeUp> {
    call.catch(() => undefined);
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        timer.cancel();
        reject(signal?.reason as Error);
      };
      const timer = this.#options.clock.schedule(deadline - this.#options.clock.now(), () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(timeUp);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => {
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
      };
      call.then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: Error) => {
          settle();
          reject(error);
        },
      );
    });
  }

  /** Waits `ms` on the clock; rejects with the signal's reason if it aborts first. */
  async #pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    await this.#until(new Promise<never>(() => undefined), this.#options.clock.now() + ms, signal);
  }
}
