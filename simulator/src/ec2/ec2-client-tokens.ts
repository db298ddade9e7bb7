/**
 * RunInstances idempotency as AWS documents it ("Ensuring idempotency in Amazon EC2 API
 * requests"): a `ClientToken` names one launch. Repeating it with the same parameters returns that
 * launch's reservation again and creates nothing; repeating it with other parameters is an
 * `IdempotentParameterMismatch`. Tokens belong to one region (one simulated cloud) and live as
 * long as the instance records they launched: once every instance of the launch is purged (or the
 * cloud reset), the token is free again.
 */
import type { Cloud } from '../cloud/cloud.ts';
import type { Vm } from '../cloud/vm.ts';
import { Ec2Error, invalidParameterValue } from './ec2-errors.ts';
import type { Ec2Params } from './ec2-params.ts';

/** One launch a token names: what was asked, and the instance records it created. */
interface TokenedLaunch {
  readonly token: string;
  readonly fingerprint: string;
  readonly vms: readonly Readonly<Vm>[];
}

/** What a repeated token resolved to: the launch's live instances. */
export interface RepeatedLaunch {
  readonly vms: readonly Readonly<Vm>[];
}

const maxTokenLength = 64;

/**
 * The request's parameters that must match for a repeat to be the same request: every parameter
 * but the token itself and the protocol's own (`Action`, `Version`, presigned `X-Amz-*`).
 */
export function launchFingerprint(params: Ec2Params): string {
  return JSON.stringify(params.entries().filter(([key]) => key !== 'ClientToken' && key !== 'Action' && key !== 'Version' && !key.startsWith('X-Amz-')));
}

/** The client tokens of one simulated region. */
export class ClientTokens {
  readonly #cloud: Cloud;
  readonly #byToken = new Map<string, TokenedLaunch>();
  readonly #byVm = new Map<string, TokenedLaunch>();
  /** Size after the last sweep of launches whose instances are gone; the next sweep comes at twice it. */
  #sweptAt = 0;

  constructor(cloud: Cloud) {
    this.#cloud = cloud;
  }

  /**
   * The launch a token already names, when its parameters match; undefined for a new token.
   * Throws `IdempotentParameterMismatch` when the token was used with other parameters, and
   * `InvalidParameterValue` for a token longer than AWS's 64 characters.
   */
  repeated(token: string, fingerprint: string): RepeatedLaunch | undefined {
    if (token.length > maxTokenLength) throw invalidParameterValue(`Value (${token}) for parameter clientToken is invalid. Length exceeds ${maxTokenLength} characters.`);
    const launch = this.#live(this.#byToken.get(token));
    if (!launch) return undefined;
    if (launch.fingerprint !== fingerprint) {
      throw new Ec2Error('IdempotentParameterMismatch', `The client token you have provided is associated with a resource that is already deleted or whose parameters differ from this request. Please use a new client token.`);
    }
    return { vms: launch.vms };
  }

  /** Records the instances a token launched. */
  remember(token: string, fingerprint: string, vms: readonly Readonly<Vm>[]): void {
    const launch: TokenedLaunch = { token, fingerprint, vms };
    this.#byToken.set(token, launch);
    for (const vm of vms) this.#byVm.set(vm.id, launch);
    if (this.#byToken.size > Math.max(64, 2 * this.#sweptAt)) this.#sweep();
  }

  /** The token the instance was launched with; empty when none (as EC2 shows it). */
  tokenOf(vm: Readonly<Vm>): string {
    const launch = this.#live(this.#byVm.get(vm.id));
    return launch?.vms.includes(vm) ? launch.token : '';
  }

  /** The launch while one of its instance records still lives (the same record, not a reused id after a reset). */
  #live(launch: TokenedLaunch | undefined): TokenedLaunch | undefined {
    if (!launch) return undefined;
    if (launch.vms.some((vm) => this.#cloud.get(vm.id) === vm)) return launch;
    this.#forget(launch);
    return undefined;
  }

  #forget(launch: TokenedLaunch): void {
    if (this.#byToken.get(launch.token) === launch) this.#byToken.delete(launch.token);
    for (const vm of launch.vms) if (this.#byVm.get(vm.id) === launch) this.#byVm.delete(vm.id);
  }

  #sweep(): void {
    for (const launch of [...this.#byToken.values()]) this.#live(launch);
    this.#sweptAt = this.#byToken.size;
  }
}

/** One ClientTokens per simulated cloud, made on first use. */
export function clientTokensOf(registry: WeakMap<Cloud, ClientTokens>, cloud: Cloud): ClientTokens {
  let tokens = registry.get(cloud);
  if (!tokens) {
    tokens = new ClientTokens(cloud);
    registry.set(cloud, tokens);
  }
  return tokens;
}
