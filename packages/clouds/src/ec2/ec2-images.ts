/**
 * Image names to AMI ids. A manifest names images (`fedora-40`); RunInstances wants an `ami-…`.
 * A name is looked up among the account's own images and Amazon's only: anyone may publish a
 * public AMI under any name, so a wider lookup could boot a stranger's image (AMI name squatting).
 * Other images are launched by their `ami-…` id, used as is. Resolved ids are kept for a while, so
 * a recovery storm does not cost one DescribeImages per launch.
 */
import type { Image } from '@aws-sdk/client-ec2';
import type { Clock } from '@defib/platform';

/** Owners a name is looked up among. */
export const trustedImageOwners = ['self', 'amazon'];

const amiIdPattern = /^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;

/** Whether the text is an AMI id rather than a name. */
export function isAmiId(image: string): boolean {
  return amiIdPattern.test(image);
}

/** The newest available image called exactly `name` (EC2 filters treat `*` and `?` as wildcards). */
export function newestImageNamed(images: readonly Image[], name: string): Image | undefined {
  return images.filter((image) => image.Name === name && image.ImageId !== undefined).sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
}

/** Image ids by name, each kept for `ttlMs`. */
export class ImageIdCache {
  readonly #entries = new Map<string, { id: string; expiresAt: number }>();
  readonly #clock: Clock;
  readonly #ttlMs: number;

  constructor(clock: Clock, ttlMs: number) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  get(name: string): string | undefined {
    const entry = this.#entries.get(name);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > this.#clock.now()) return entry.id;
    this.#entries.delete(name);
    return undefined;
  }

  set(name: string, id: string): void {
    this.#entries.set(name, { id, expiresAt: this.#clock.now() + this.#ttlMs });
  }
}
