/**
 * Whether each cloud's API answers the cloud watch. A cloud that has failed every poll for a while
 * is reported once (`monitor.degraded`, cause `cloud-unreachable`, naming the cloud) and once again
 * when a poll succeeds (`monitor.recovered`): its VMs are judged by their heartbeats alone
 * meanwhile, and none is declared failed for the cloud's silence.
 */
import type { Clock } from '@defib/platform';

export type ReachabilityChange =
  | { readonly cloud: string; readonly unreachable: true; readonly failingForMs: number; readonly detail: string }
  | { readonly cloud: string; readonly unreachable: false; readonly unreachableForMs: number };

export interface CloudReachabilityOptions {
  clock: Clock;
  /** How long every poll of a cloud must fail before it is reported unreachable. */
  unreachableAfterMs: number;
  onChange: (change: ReachabilityChange) => void;
}

interface Failing {
  /** When the first failed poll of this run ended. */
  readonly since: number;
  /** When it was reported unreachable, if it was. */
  reportedAt: number | undefined;
}

export class CloudReachability {
  readonly #options: CloudReachabilityOptions;
  readonly #failing = new Map<string, Failing>();

  constructor(options: CloudReachabilityOptions) {
    this.#options = options;
  }

  /** A poll of `cloud` failed; `detail` says how, in words without secrets (a CloudError's message). */
  failed(cloud: string, detail: string): void {
    const now = this.#options.clock.now();
    let failing = this.#failing.get(cloud);
    if (failing === undefined) this.#failing.set(cloud, (failing = { since: now, reportedAt: undefined }));
    if (failing.reportedAt !== undefined || now - failing.since < this.#options.unreachableAfterMs) return;
    failing.reportedAt = now;
    this.#options.onChange({ cloud, unreachable: true, failingForMs: now - failing.since, detail });
  }

  succeeded(cloud: string): void {
    const failing = this.#failing.get(cloud);
    if (failing === undefined) return;
    this.#failing.delete(cloud);
    if (failing.reportedAt !== undefined) this.#options.onChange({ cloud, unreachable: false, unreachableForMs: this.#options.clock.now() - failing.since });
  }

  /** Clouds reported unreachable now. */
  unreachable(): string[] {
    return [...this.#failing].filter(([, failing]) => failing.reportedAt !== undefined).map(([cloud]) => cloud);
  }
}
