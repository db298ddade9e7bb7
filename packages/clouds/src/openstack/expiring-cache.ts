/**
 * A small cache of name lookups (image, flavor and network ids by name): entries expire after a
 * time-to-live on the injected clock, and the oldest entry makes room when it is full, so a
 * long-running service neither grows without bound nor trusts a rename for ever.
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
}
