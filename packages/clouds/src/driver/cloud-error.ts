/**
 * The one error a cloud driver throws. Its `kind` is what callers decide on; its message names the
 * cloud and the operation and says what went wrong in the provider's words, never with a token,
 * a password or a secret key in it.
 */

/**
 * - `not-found`: the VM, image or flavor does not exist (any more);
 * - `conflict`: not possible in the VM's current state (Nova 409, EC2 `IncorrectInstanceState`);
 * - `throttled`: the cloud refused for rate (429, `RequestLimitExceeded`, `Throttling`);
 * - `unavailable`: the cloud could not be reached or failed (5xx, connection refused or reset, DNS, timeout, a malformed answer);
 * - `rejected`: the cloud refused the request as invalid (400, 413, quota, `IdempotentParameterMismatch`, an unknown region);
 * - `auth`: the credentials were refused (401, 403).
 */
export type CloudErrorKind = 'not-found' | 'conflict' | 'throttled' | 'unavailable' | 'rejected' | 'auth';

export interface CloudErrorOptions {
  /** The HTTP status, when the cloud answered. */
  status?: number;
  /** The provider's error code (`itemNotFound`, `InvalidInstanceID.NotFound`, …). */
  code?: string;
  /** How long the cloud asked to be left alone (`Retry-After`). */
  retryAfterMs?: number;
  /** The request may have taken effect although no answer came (a timeout or a reset after sending). */
  outcomeUnknown?: boolean;
  cause?: unknown;
}

export class CloudError extends Error {
  readonly kind: CloudErrorKind;
  readonly cloud: string;
  readonly operation: string;
  /** What went wrong, without the cloud and operation the message starts with. */
  readonly detail: string;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly outcomeUnknown: boolean;

  constructor(kind: CloudErrorKind, cloud: string, operation: string, detail: string, options: CloudErrorOptions = {}) {
    super(`cloud ${cloud}: ${operation} failed: ${detail}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CloudError';
    this.kind = kind;
    this.cloud = cloud;
    this.operation = operation;
    this.detail = detail;
    this.status = options.status;
    this.code = options.code;
    this.retryAfterMs = options.retryAfterMs;
    this.outcomeUnknown = options.outcomeUnknown ?? false;
  }

  /** Whether trying again later may succeed: throttling and outages, not refusals. */
  get transient(): boolean {
    return this.kind === 'throttled' || this.kind === 'unavailable';
  }
}

export function isCloudError(error: unknown): error is CloudError {
  return error instanceof CloudError;
}

/** The kind for an HTTP status a cloud answered with (2xx never reaches here). */
export function kindForStatus(status: number): CloudErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'unavailable';
  return 'rejected';
}

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The kind for an error thrown before any answer came (Node's fetch and sockets): DNS failures,
 * refused and reset connections, and timeouts are all `unavailable`; whether the request may have
 * reached the cloud decides `outcomeUnknown`.
 */
export function describeTransportError(error: unknown): { detail: string; outcomeUnknown: boolean } {
  const cause = (error as { cause?: unknown } | undefined)?.cause ?? error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  const name = (error as { name?: unknown } | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return { detail: 'no answer within the timeout', outcomeUnknown: true };
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { detail: `cannot resolve the host name (${code})`, outcomeUnknown: false };
    case 'ECONNREFUSED':
      return { detail: 'connection refused (ECONNREFUSED)', outcomeUnknown: false };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return { detail: `connection reset (${String(code)})`, outcomeUnknown: true };
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { detail: 'connection timed out', outcomeUnknown: false };
    default: {
      const message = cause instanceof Error ? cause.message : String(cause);
      return { detail: typeof code === 'string' ? `${message} (${code})` : message, outcomeUnknown: true };
    }
  }
}
