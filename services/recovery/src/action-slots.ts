/**
 * Storm control: at most N recovery actions under way at once per cloud (a reboot until it is
 * verified, a fence and launch until the new VM answers), so that a host failure taking down
 * hundreds of VMs does not turn into hundreds of simultaneous API calls and a throttled cloud.
 *
 * When more actions wait than there are slots, the next free slot goes to the neediest: the
 * deployable with the smallest share of healthy assemblies first (a deployable with nothing left
 * running before one that lost one VM of ten), then the oldest incident, then arrival order.
 */

/** What an action waiting for a slot tells about itself, for the fair choice. */
export interface SlotRequest {
  cloud: string;
  /** Healthy assemblies of the action's deployable, as a share of all of them (0…1): lowest goes first. */
  healthyShare: number;
  /** When the incident the action belongs to opened (epoch ms): oldest goes first among equals. */
  incidentOpenedAt: number;
  /** Aborting it while waiting withdraws the request: `acquire` rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What a cloud's slots look like now; `peak` is the most ever running at once. */
export interface SlotUse {
  running: number;
  waiting: number;
  peak: number;
}

interface Waiter {
  readonly request: SlotRequest;
  readonly arrival: number;
  readonly grant: (release: () => void) => void;
  readonly withdraw: () => void;
}

interface CloudSlots {
  running: number;
  peak: number;
  readonly waiting: Waiter[];
}

/** Whether `a` goes before `b`: fewest healthy first, then oldest incident, then first come. */
function goesBefore(a: Waiter, b: Waiter): boolean {
  if (a.request.healthyShare !== b.request.healthyShare) return a.request.healthyShare < b.request.healthyShare;
  if (a.request.incidentOpenedAt !== b.request.incidentOpenedAt) return a.request.incidentOpenedAt < b.request.incidentOpenedAt;
  return a.arrival < b.arrival;
}

export class ActionSlots {
  readonly #limitFor: (cloud: string) => number;
  readonly #clouds = new Map<string, CloudSlots>();
  #arrivals = 0;

  /** `limitFor` is asked at every grant, so a changed setting applies to the next one. */
  constructor(limitFor: (cloud: string) => number) {
    this.#limitFor = limitFor;
  }

  /**
   * Resolves with a release function once a slot of the request's cloud is free; rejects with the
   * signal's reason if aborted while waiting. Releasing twice releases once.
   */
  acquire(request: SlotRequest): Promise<() => void> {
    const { signal } = request;
    if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
    const slots = this.#slotsOf(request.cloud);
    if (slots.waiting.length === 0 && slots.running < this.#limitFor(request.cloud)) return Promise.resolve(this.#take(request.cloud, slots));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const index = slots.waiting.indexOf(waiter);
        if (index >= 0) slots.waiting.splice(index, 1);
        reject(signal?.reason as Error);
      };
      const waiter: Waiter = {
        request,
        arrival: this.#arrivals++,
        grant: resolve,
        withdraw: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      slots.waiting.push(waiter);
    });
  }

  /** Per cloud: actions running, actions waiting, and the most ever running at once. */
  snapshot(): Record<string, SlotUse> {
    return Object.fromEntries([...this.#clouds].map(([cloud, slots]) => [cloud, { running: slots.running, waiting: slots.waiting.length, peak: slots.peak }]));
  }

  #slotsOf(cloud: string): CloudSlots {
    let slots = this.#clouds.get(cloud);
    if (slots === undefined) {
      slots = { running: 0, peak: 0, waiting: [] };
      this.#clouds.set(cloud, slots);
    }
    return slots;
  }

  #take(cloud: string, slots: CloudSlots): () => void {
    slots.running++;
    slots.peak = Math.max(slots.peak, slots.running);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      slots.running--;
      this.#grantNext(cloud, slots);
    };
  }

  #grantNext(cloud: string, slots: CloudSlots): void {
    while (slots.waiting.length > 0 && slots.running < this.#limitFor(cloud)) {
      let next = 0;
      for (let index = 1; index < slots.waiting.length; index++) {
        if (goesBefore(slots.waiting[index] as Waiter, slots.waiting[next] as Waiter)) next = index;
      }
      const [waiter] = slots.waiting.splice(next, 1) as [Waiter];
      waiter.withdraw();
      waiter.grant(this.#take(cloud, slots));
    }
  }
}
