/**
 * The one mapper from anything thrown to an RFC 9457 `application/problem+json` answer.
 * `AppError`s keep their code; zod errors and contract violations become `validation_failed`; the errors express and
 * body-parser raise (`entity.too.large`, `entity.parse.failed`, `charset.unsupported`, bad
 * URL encoding …) become the matching 4xx; everything else is a 500 whose details stay in the log.
 */
import { isDatabaseUnavailable } from '../database-availability.ts';
import { AppError, isAppError, type ErrorCode, type FieldIssue } from './errors.ts';
import { fieldIssuesFromViolation, fieldIssuesFromZod, isContractViolation, isZodError } from './validation.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://defib.dev/problems/';

/** The body of every error response. */
export interface ProblemDocument {
  /** `https://defib.dev/problems/<code>` */
  type: string;
  title: string;
  status: number;
  /** What happened; for 5xx a generic sentence, never the internal message. */
  detail: string;
  /** The request path (without query string). */
  instance: string;
  code: ErrorCode;
  correlationId: string;
  /** Present for validation problems: each names its field. */
  issues?: FieldIssue[];
}

export interface Problem {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: ProblemDocument;
  /** The error, normalised; its `cause` holds what was originally thrown. */
  error: AppError;
}

export const PROBLEM_TITLES: Readonly<Record<ErrorCode, string>> = {
  bad_request: 'Bad request',
  validation_failed: 'Validation failed',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  conflict: 'Conflict',
  unprocessable: 'Unprocessable content',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  not_acceptable: 'Not acceptable',
  method_not_allowed: 'Method not allowed',
  rate_limited: 'Too many requests',
  unavailable: 'Service unavailable',
  internal: 'Internal server error',
};

const HIDDEN_DETAIL: Partial<Record<ErrorCode, string>> = {
  unavailable: 'The service is temporarily unavailable; retry later.',
};
const GENERIC_DETAIL = 'An unexpected error occurred. Quote the correlation id when reporting it.';

/** Maps anything thrown to the problem that answers it. Pure: logging is the caller's job. */
export function toProblem(thrown: unknown, context: { instance: string; correlationId: string }): Problem {
  const error = toAppError(thrown);
  const detail = error.expose ? error.message : (HIDDEN_DETAIL[error.code] ?? GENERIC_DETAIL);
  const body: ProblemDocument = {
    type: `${PROBLEM_TYPE_BASE}${error.code}`,
    title: PROBLEM_TITLES[error.code],
    status: error.status,
    detail,
    instance: context.instance,
    code: error.code,
    correlationId: context.correlationId,
  };
  if (error.expose && error.issues !== undefined && error.issues.length > 0) body.issues = [...error.issues];
  return { status: error.status, headers: error.headers, body, error };
}

/**
 * The database went away under a request (a restart, a failover, killed connections). Its
 * transaction was rolled back, so the client may simply try again.
 */
const DATABASE_UNAVAILABLE = (cause: unknown) =>
  AppError.unavailable('the database is unavailable; try again shortly', { expose: true, headers: { 'Retry-After': '2' }, cause });

/** Normalises anything thrown into an `AppError`, keeping the original as `cause`. */
export function toAppError(thrown: unknown): AppError {
  if (isAppError(thrown)) return thrown;
  if (isZodError(thrown)) return AppError.validation(fieldIssuesFromZod(thrown.issues));
  if (isContractViolation(thrown)) return AppError.validation(fieldIssuesFromViolation(thrown));
  const httpError = asHttpError(thrown);
  if (httpError !== undefined) return fromHttpError(httpError, thrown);
  if (isDatabaseUnavailable(thrown)) return DATABASE_UNAVAILABLE(thrown);
  return AppError.internal(thrown instanceof Error ? thrown.message : 'non-error value thrown', thrown);
}

/** The shape of the `http-errors` that express, router and body-parser raise. */
interface HttpErrorLike {
  status: number;
  type: string | undefined;
  message: string;
  expose: boolean;
  limit: number | undefined;
  charset: string | undefined;
}

function asHttpError(thrown: unknown): HttpErrorLike | undefined {
  if (!(thrown instanceof Error)) return undefined;
  const candidate = thrown as Error & Record<string, unknown>;
  const status = typeof candidate.status === 'number' ? candidate.status : candidate.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) return undefined;
  return {
    status,
    type: typeof candidate.type === 'string' ? candidate.type : undefined,
    message: thrown.message,
    expose: candidate.expose === true,
    limit: typeof candidate.limit === 'number' ? candidate.limit : undefined,
    charset: typeof candidate.charset === 'string' ? candidate.charset : undefined,
  };
}

function fromHttpError(error: HttpErrorLike, cause: unknown): AppError {
  switch (error.type ?? '') {
    case 'entity.too.large':
      return new AppError(
        'payload_too_large',
        error.limit === undefined ? 'request body is too large' : `request body exceeds the limit of ${error.limit} bytes`,
        { cause },
      );
    case 'entity.parse.failed':
      return new AppError('bad_request', `malformed JSON body: ${withoutEchoedInput(error.message)}`, { cause });
    case 'charset.unsupported':
      return new AppError('unsupported_media_type', `unsupported charset${error.charset === undefined ? '' : ` "${error.charset.toUpperCase()}"`}; send UTF-8`, { cause });
    case 'encoding.unsupported':
      return new AppError('unsupported_media_type', 'unsupported content encoding; send the body uncompressed', { cause });
    case 'request.aborted':
      return new AppError('bad_request', 'the request was aborted before its body was received', { cause });
    case 'request.size.invalid':
      return new AppError('bad_request', 'the request body did not match its Content-Length', { cause });
    case 'entity.verify.failed':
      return new AppError('bad_request', 'the request body was rejected', { cause });
    default:
      break;
  }
  const code = codeForStatus(error.status);
  // http-errors sets `expose` for 4xx; a 5xx stays hidden whatever it says.
  return new AppError(code, error.expose && error.status < 500 ? error.message : 'request failed', { cause, expose: error.status < 500 });
}

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 405:
      return 'method_not_allowed';
    case 406:
      return 'not_acceptable';
    case 409:
      return 'conflict';
    case 422:
      return 'unprocessable';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return status < 500 ? 'bad_request' : 'internal';
  }
}

/**
 * V8's JSON errors may quote the input (`Unexpected token '}', "{"password":}" is not valid
 * JSON`); the quote is dropped so a malformed secret is neither echoed nor logged.
 */
export function withoutEchoedInput(message: string): string {
  return message.replace(/, (\.\.\.)?".*" is not valid JSON$/s, '');
}
