/**
 * Image names to AMI ids. A manifest names images (`fedora-40`); RunInstances wants an `ami-…`.
 * A name is looked up among the account's own images and Amazon's only: anyone may publish a
 * public AMI under any name, so a wider lookup could boot a stranger's image (AMI name squatting).
 * Other images are launched by their `ami-…` id, used as is. Resolved ids are kept for a while, so
 * a recovery storm does not cost one DescribeImages per launch.
 */
import type { Image } from '@aws-sdk/client-ec2';

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

