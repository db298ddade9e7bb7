/**
 * Last-line defence for text that is logged but not written by us (an error's message or
 * stack): credentials in URLs and bearer tokens are cut out before the line is written.
 */

/** `postgres://defib:hunter2@db` → `postgres://[redacted]@db`; `Bearer abc…` → `Bearer [redacted]`. */
export function scrubSecrets(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1[redacted]@').replace(/\b(Bearer|Basic)\s+[^\s"',]+/gi, '$1 [redacted]');
}
