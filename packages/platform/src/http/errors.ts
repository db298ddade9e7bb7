/**
 * The one error type of Defib's HTTP layer. Anything a route or a library wants to say to a
 * client is an `AppError`; everything else that escapes is a bug and becomes a generic 500.
 */

/** What went wrong, in words a client can switch on. Each code has one HTTP status. */
export type ErrorCode =
  | 'bad_request'
  | 'validation_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unprocessable'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'not_acceptable'
  | 'method_not_allowed'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

/** The HTTP status each code is answered with. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  payload_too_large: 413,
  unsupported_media_type: 415,
  not_acceptable: 406,
  method_not_allowed: 405,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

/** One problem with one field of the input. `path` names it: `params.name`, `assemblies[1].image`. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

export interface AppErrorOptions {
  /**
   * Whether `message` may be shown to the client. Defaults to true below 500 and false from 500
   * on, so a 5xx never reveals internals unless the thrower says its message is safe.
   */
  expose?: boolean;
  issues?: readonly FieldIssue[];
  /** Response headers the error requires (`WWW-Authenticate`, `Allow`, `Retry-After`). */
  headers?: Readonly<Record<string, string>>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly issues: readonly FieldIssue[] | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.expose = options.expose ?? this.status < 500;
    this.issues = options.issues;
    this.headers = options.headers ?? {};
  }

  static badRequest(message: string, options?: AppErrorOptions): AppError {
    return new AppError('bad_request', message, options);
  }

  /** The input does not satisfy its schema; each issue names the field. */
  static validation(issues: readonly FieldIssue[], message?: string): AppError {
    const summary = message ?? describeIssues(issues);
    return new AppError('validation_failed', summary, { issues });
  }

  /** No usable credentials. `WWW-Authenticate` follows RFC 6750. */
  static unauthorized(message: string, error: 'invalid_request' | 'invalid_token' | undefined = undefined): AppError {
    const challenge = error === undefined ? 'Bearer realm="defib"' : `Bearer realm="defib", error="${error}"`;
    return new AppError('unauthorized', message, { headers: { 'WWW-Authenticate': challenge } });
  }

  /** Credentials are valid but do not allow this. */
  static forbidden(message: string, insufficientScope = false): AppError {
    const headers: Record<string, string> = insufficientScope
      ? { 'WWW-Authenticate': 'Bearer realm="defib", error="insufficient_scope"' }
      : {};
    return new AppError('forbidden', message, { headers });
  }

  /** `AppError.notFound('cloud', 'sim-openstack')` → `cloud "sim-openstack" not found`. */
  static notFound(what: string, name?: string): AppError {
    return new AppError('not_found', name === undefined ? `${what} not found` : `${what} "${name}" not found`);
  }

  static conflict(message: string, options?: AppErrorOptions): AppError {
    return new AppError('conflict', message, options);
  }

  /** Well-formed, but what it names does not work: a cloud that refuses the registered credentials. */
  static unprocessable(message: string, options?: AppErrorOptions): AppError {
    return new AppError('unprocessable', message, options);
  }

  static payloadTooLarge(limitBytes: number): AppError {
    return new AppError('payload_too_large', `request body exceeds the limit of ${limitBytes} bytes`);
  }

  static unsupportedMediaType(message: string): AppError {
    return new AppError('unsupported_media_type', message);
  }

  static notAcceptable(accepted: readonly string[]): AppError {
    return new AppError('not_acceptable', `this resource can only be represented as ${accepted.join(', ')}`);
  }

  static methodNotAllowed(method: string, allowed: readonly string[]): AppError {
    return new AppError('method_not_allowed', `${method} is not allowed here; allowed: ${allowed.join(', ')}`, {
      headers: { Allow: allowed.join(', ') },
    });
  }

  static rateLimited(message: string, retryAfterSeconds?: number): AppError {
    const headers: Record<string, string> =
      retryAfterSeconds === undefined ? {} : { 'Retry-After': String(Math.ceil(retryAfterSeconds)) };
    return new AppError('rate_limited', message, { headers });
  }

  /** A dependency is down. The message is hidden unless `expose` says it is safe. */
  static unavailable(message: string, options?: AppErrorOptions): AppError {
    return new AppError('unavailable', message, options);
  }

  /** A bug or an unexpected failure; the message is for the log only. */
  static internal(message: string, cause?: unknown): AppError {
    return new AppError('internal', message, { cause });
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

function describeIssues(issues: readonly FieldIssue[]): string {
  const [first] = issues;
  if (first === undefined) return 'request validation failed';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return `${first.path}: ${first.message}${more}`;
}
