/**
 * Last-line defence for text that is logged but not written by us (an error's message or
 * stack): credentials in URLs and bearer tokens are cut out before the line is written.
 */

/** `postgres://defib:hunter2@db` → `postgres://[redacted]@db`; `Bearer abc…` → `Bearer [redacted]`. */
export function scrubSecrets(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1[redacted]@').replace(/\b(Bearer|Basic)\s+[^\s"',]+/gi, '$1 [redacted]');
}

/** An error as a log field: type, code, message and stack, each scrubbed; causes followed a few levels deep. */
export function loggableError(error: unknown, depth = 0): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error, message: scrubSecrets(String(error)) };
  const code = (error as { code?: unknown }).code;
  const described: Record<string, unknown> = {
    type: error.name,
    message: scrubSecrets(error.message),
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(error.stack === undefined ? {} : { stack: scrubSecrets(error.stack) }),
  };
  if (error.cause !== undefined && depth < 3) described.cause = loggableError(error.cause, depth + 1);
  return described;
}
