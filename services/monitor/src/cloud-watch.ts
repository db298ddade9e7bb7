/**
 * The cloud watch: what each registered cloud says about the VMs the monitor expects there
 * (issue 13, point 4). It polls every target cloud's full listing on an interval, keeps the latest
 * {@link CloudView} of every expected VM, and reports each view that changed. It never concludes
 * that a VM failed: failure-classification.ts correlates its views with the heartbeats.
 *
 * Two rules keep a cloud API's weaknesses from becoming VM failures:
 * - a failed poll (throttled, unavailable, refused, a timeout, anything) changes no view: it is
 *   reported through `onPollFailed` and the next interval tries again (the driver already retried
 *   what was worth retrying within its budget);
 * - an expected VM missing from a successful listing is `gone` only once the cloud confirms it: a
 *   second successful listing without it, or a direct `describe` answering not-found. Listings are
 *   eventually consistent (EC2's especially), and a VM that was never seen at all (just launched)
 *   is given `unseenGraceMs` before its absence counts.
 */
import { sameAddresses } from '@defib/contracts';
import { isCloudError, type CloudDriver, type CloudInstance, type InstanceHealth } from '@defib/clouds';
import type { Clock, Logger, ScheduledTask } from '@defib/platform';
import type { CloudView } from './watch.ts';

export interface CloudWatchOptions {
  clock: Clock;
  logger: Logger;
  /** The driver of a registered cloud (the service gives a cloudDriverFactory-backed lookup; throws when the cloud is not registered). */
  driverFor: (cloud: string) => Promise<CloudDriver>;
  /** Which clouds to poll now, and the instance ids the monitor expects on each (to report `gone`). Asked at every poll. */
  targets: () => ReadonlyMap<string, ReadonlySet<string>>;
  /** Between two polls of one cloud (`MONITOR_CLOUD_POLL_INTERVAL`, 5000 by default). */
  intervalMs: number;
  /** Every changed view (state, cloudStatus, health, addresses, zone) and every first sight of an expected VM. */
  onView: (view: CloudView) => void;
  /** A poll failed: for logs and metrics, never a VM failure. */
  onPollFailed?: (cloud: string, error: unknown) => void;
  onPollSucceeded?: (cloud: string, durationMs: number, instances: number) => void;
  /**
   * How long an expected VM that no poll or look-up has ever seen may be missing before its
   * absence counts (a VM just launched may not be listed yet); 120 s by default.
   */
  unseenGraceMs?: number;
  /** At most this many VMs missing from one listing are confirmed at once with `describe`; 20 by default. */
  confirmLimit?: number;
}

/** What the watch remembers of an expected VM. */
interface Tracked {
  readonly cloud: string;
  readonly instanceId: string;
  view: CloudView | undefined;
  /** When the watch first expected it (a poll found it among the targets, or a look-up asked). */
  readonly expectedSince: number;
  /** Consecutive successful listings it was missing from. */
  missedListings: number;
}

/** What one answer of the cloud says of a VM, before it becomes a view. */
type Reading = Omit<CloudView, 'observedAt' | 'stateSince'>;

/** A direct `describe`'s outcome. */
type Description = { readonly kind: 'found'; readonly instance: CloudInstance } | { readonly kind: 'not-found' } | { readonly kind: 'failed'; readonly error: unknown };

/**
 * Polls the target clouds and keeps the latest view of every expected VM. One poll at a time per
 * cloud; a slow or hanging cloud never delays another. All timing goes through the injected clock.
 */
export class CloudWatch {
  readonly #options: CloudWatchOptions;
  readonly #logger: Logger;
  readonly #unseenGraceMs: number;
  readonly #confirmLimit: number;
  readonly #tracked = new Map<string, Tracked>();
  readonly #inFlight = new Map<string, Promise<void>>();
  #timer: ScheduledTask | undefined;
  #polling = false;
  #stopped = false;

  constructor(options: CloudWatchOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'cloud-watch' });
    this.#unseenGraceMs = options.unseenGraceMs ?? 120_000;
    this.#confirmLimit = options.confirmLimit ?? 20;
  }

  /** Polls every target cloud now, then every `intervalMs`; a cloud whose poll is still under way is skipped until it ends. */
  start(): void {
    if (this.#polling) return;
    this.#polling = true;
    this.#stopped = false;
    this.#tick();
  }

  /** Stops polling and waits for the polls under way (the drivers' own timeouts bound them); nothing is reported after. */
  async stop(): Promise<void> {
    this.#polling = false;
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  /**
   * Polls one cloud now (after a `cloud.registered`, and in tests); joins the poll under way if
   * there is one. Never rejects: a failure is reported through `onPollFailed`.
   */
  pollNow(cloud: string): Promise<void> {
    const current = this.#inFlight.get(cloud);
    if (current !== undefined) return current;
    const poll = this.#poll(cloud)
      // Only a throwing callback gets here; the next interval polls again all the same.
      .catch((error: unknown) => this.#logger.error({ cloud, err: error }, 'handling a poll of the cloud failed'))
      .finally(() => this.#inFlight.delete(cloud));
    this.#inFlight.set(cloud, poll);
    return poll;
  }

  /**
   * Asks the cloud directly about one VM (the desk confirming a verdict). Not-found → a `gone`
   * view; any other error, or no answer within `timeoutMs` → undefined (nothing is known, nothing
   * changes). The answer becomes the VM's latest view, reported through `onView` if it changed,
   * like a poll's.
   */
  async look(cloud: string, instanceId: string, timeoutMs: number): Promise<CloudView | undefined> {
    const { clock } = this.#options;
    const startedAt = clock.now();
    let timeout: ScheduledTask | undefined;
    const expired = new Promise<'timeout'>((resolve) => {
      timeout = clock.schedule(timeoutMs, () => resolve('timeout'));
    });
    const answer = await Promise.race([this.#describe(cloud, instanceId), expired]);
    timeout?.cancel();
    if (answer === 'timeout') {
      this.#logger.warn({ cloud, instanceId, timeoutMs }, 'no answer from the cloud about the instance in time');
      return undefined;
    }
    if (answer.kind === 'failed') {
      this.#logger.warn({ cloud, instanceId, err: answer.error }, 'the cloud could not be asked about the instance');
      return undefined;
    }
    const tracked = this.#trackedOrNew(cloud, instanceId, startedAt);
    const reading = answer.kind === 'found' ? readingOf(cloud, answer.instance) : goneReading(tracked);
    return this.#record(tracked, reading, startedAt);
  }

  /** The latest known view of a VM, if the watch has one. */
  view(instanceId: string): CloudView | undefined {
    return this.#tracked.get(instanceId)?.view;
  }

  /** Drops what is known of a VM the monitor no longer expects; it is seen afresh if it comes back. */
  forget(instanceId: string): void {
    this.#tracked.delete(instanceId);
  }

  #tick(): void {
    if (!this.#polling) return;
    for (const cloud of this.#options.targets().keys()) {
      if (!this.#inFlight.has(cloud)) void this.pollNow(cloud);
    }
    this.#timer = this.#options.clock.schedule(this.#options.intervalMs, () => this.#tick());
  }

  async #poll(cloud: string): Promise<void> {
    const { clock } = this.#options;
    const startedAt = clock.now();
    let driver: CloudDriver;
    let listing: CloudInstance[];
    try {
      driver = await this.#options.driverFor(cloud);
      listing = await driver.list();
    } catch (error) {
      if (this.#stopped) return;
      this.#logger.warn({ cloud, err: error }, 'polling the cloud failed; no view changes until a poll succeeds');
      this.#options.onPollFailed?.(cloud, error);
      return;
    }
    if (this.#stopped) return;
    this.#options.onPollSucceeded?.(cloud, clock.now() - startedAt, listing.length);
    const expected = this.#options.targets().get(cloud) ?? new Set<string>();
    const listed = new Map(listing.map((instance) => [instance.id, instance]));
    const missing: Tracked[] = [];
    for (const instanceId of expected) {
      const tracked = this.#trackedOrNew(cloud, instanceId, startedAt);
      const instance = listed.get(instanceId);
      if (instance === undefined) {
        tracked.missedListings += 1;
        missing.push(tracked);
      } else {
        tracked.missedListings = 0;
        this.#record(tracked, readingOf(cloud, instance), startedAt);
      }
    }
    for (const [instanceId, tracked] of this.#tracked) {
      if (tracked.cloud === cloud && !expected.has(instanceId)) this.#tracked.delete(instanceId);
    }
    await this.#confirmMissing(driver, missing, startedAt);
  }

  /**
   * A VM missing from one listing is confirmed with `describe` (not-found → gone at once; found →
   * its view, the listing lagged); missing from two in a row, it is gone without asking. A VM never
   * seen waits out the grace either way: a fresh VM may be unknown to the API for a while.
   */
  async #confirmMissing(driver: CloudDriver, missing: readonly Tracked[], startedAt: number): Promise<void> {
    const now = this.#options.clock.now();
    const toConfirm: Tracked[] = [];
    for (const tracked of missing) {
      if (tracked.view === undefined && now - tracked.expectedSince < this.#unseenGraceMs) continue;
      if (tracked.missedListings >= 2) this.#record(tracked, goneReading(tracked), startedAt);
      else if (toConfirm.length < this.#confirmLimit) toConfirm.push(tracked);
    }
    await Promise.all(
      toConfirm.map(async (tracked) => {
        const answer = await describeWith(driver, tracked.instanceId);
        // Forgotten (or forgotten and expected again) meanwhile: this answer is about a VM no longer watched so.
        if (this.#stopped || this.#tracked.get(tracked.instanceId) !== tracked) return;
        switch (answer.kind) {
          case 'found':
            this.#record(tracked, readingOf(tracked.cloud, answer.instance), startedAt);
            return;
          case 'not-found':
            this.#record(tracked, goneReading(tracked), startedAt);
            return;
          case 'failed':
            // Unconfirmed: the next listing decides.
            return;
        }
      }),
    );
  }

  async #describe(cloud: string, instanceId: string): Promise<Description> {
    try {
      return await describeWith(await this.#options.driverFor(cloud), instanceId);
    } catch (error) {
      return { kind: 'failed', error };
    }
  }

  #trackedOrNew(cloud: string, instanceId: string, now: number): Tracked {
    const known = this.#tracked.get(instanceId);
    if (known !== undefined && known.cloud === cloud) return known;
    const tracked: Tracked = { cloud, instanceId, view: undefined, expectedSince: now, missedListings: 0 };
    this.#tracked.set(instanceId, tracked);
    return tracked;
  }

  /**
   * Makes `reading` the VM's latest view, observed now, and reports it if it differs from the
   * previous one. An answer to a call that started before the known view was observed is older
   * than it and is dropped (a look-up and a poll crossed).
   */
  #record(tracked: Tracked, reading: Reading, startedAt: number): CloudView {
    const previous = tracked.view;
    if (previous !== undefined && previous.observedAt > startedAt) return previous;
    const observedAt = this.#options.clock.now();
    const stateSince = previous !== undefined && previous.state === reading.state ? (previous.stateSince ?? previous.observedAt) : observedAt;
    const view: CloudView = { ...reading, observedAt, stateSince };
    tracked.view = view;
    if (!this.#stopped && (previous === undefined || changed(previous, view))) {
      try {
        this.#options.onView(view);
      } catch (error) {
        this.#logger.error({ err: error, instanceId: view.instanceId }, 'a cloud view could not be handled');
      }
    }
    return view;
  }
}

async function describeWith(driver: CloudDriver, instanceId: string): Promise<Description> {
  try {
    return { kind: 'found', instance: await driver.describe(instanceId) };
  } catch (error) {
    return isCloudError(error) && error.kind === 'not-found' ? { kind: 'not-found' } : { kind: 'failed', error };
  }
}

function readingOf(cloud: string, instance: CloudInstance): Reading {
  return {
    cloud,
    instanceId: instance.id,
    state: instance.state,
    cloudStatus: instance.cloudStatus,
    health: instance.health,
    addresses: instance.addresses,
    zone: instance.zone,
    hostId: instance.hostId,
  };
}

/**
 * A VM the cloud no longer knows. It keeps the addresses and zone it was last seen with: it still
 * counts in its zone's share of silent VMs, and a gone VM is no address change.
 */
function goneReading(tracked: Tracked): Reading {
  return {
    cloud: tracked.cloud,
    instanceId: tracked.instanceId,
    state: 'gone',
    cloudStatus: 'gone',
    health: undefined,
    addresses: tracked.view?.addresses ?? [],
    zone: tracked.view?.zone,
    hostId: undefined,
  };
}

/** Whether a view says something new: state, status, health, addresses (ignoring network labels) or zone. */
function changed(previous: CloudView, current: CloudView): boolean {
  return (
    previous.state !== current.state ||
    previous.cloudStatus !== current.cloudStatus ||
    !sameHealth(previous.health, current.health) ||
    !sameAddresses(previous.addresses, current.addresses) ||
    previous.zone !== current.zone
  );
}

function sameHealth(a: InstanceHealth | undefined, b: InstanceHealth | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.instance === b.instance && a.system === b.system && a.details.length === b.details.length && a.details.every((detail, index) => detail === b.details[index]);
}
