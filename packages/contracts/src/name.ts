/**
 * Names of deployables, assemblies, resources and clouds. They end up in URLs, routing keys,
 * cloud instance names and DNS labels, so they are restricted to a DNS-label-like alphabet.
 */
import { z } from 'zod';

/** Lowercase letter first, then up to 62 lowercase letters, digits or hyphens (a DNS label, 63 chars max). */
export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

/** The message a bad name gets, saying what a good one looks like. */
export const NAME_MESSAGE = 'must match ^[a-z][a-z0-9-]{0,62}$: a lowercase letter, then up to 62 lowercase letters, digits or hyphens';

/** A deployable, assembly, resource or cloud name. */
export const nameSchema = z.string().regex(NAME_PATTERN, NAME_MESSAGE);
