/**
 * The drivers' cache of name lookups (image, flavor and network ids by name): entries expire after
 * a time-to-live on the injected clock, and the oldest entry makes room when it is full, so a
 * long-running service neither grows without bound nor trusts a rename for ever. `load` looks a
 * missing key up once however many callers ask at the same moment: a burst of 500 launches naming
 * one image costs the cloud one request, not 500.
 */
import type { Clock } from '@defib/platform';

export interface ExpiringCacheOptions {
  readonly clock: Clock;
  readonly ttlMs: number;
  readonly maxEntries: number;
}

export class ExpiringCache<V> {
  readonly #options: ExpiringCacheOptions;
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #loading = new Map<string, Promise<V>>();

  constructor(options: ExpiringCacheOptions) {
    this.#options = options;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (this.#options.clock.now() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    while (this.#entries.size >= this.#options.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expiresAt: this.#options.clock.now() + this.#options.ttlMs });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /**
   * The kept value (`cached: true`, so a caller may suspect it stale), or one `lookUp` shared by
   * every caller asking while it runs, kept once it succeeds; a failure is shared, never kept.
   */
  async load(key: string, lookUp: () => Promise<V>): Promise<{ value: V; cached: boolean }> {
    const kept = this.get(key);
    if (kept !== undefined) return { value: kept, cached: true };
    let running = this.#loading.get(key);
    if (!running) {
      running = lookUp()
        .then((value) => {
          this.set(key, value);
          return value;
        })
        .finally(() => this.#loading.delete(key));
      this.#loading.set(key, running);
    }
    return { value: await running, cached: false };
  }
}
