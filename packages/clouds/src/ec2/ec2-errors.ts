/**
 * What an EC2 failure means to Defib: the AWS SDK's errors (a service error named by its EC2 code,
 * a body it could not read, a connection that failed) as one {@link CloudError} naming the cloud
 * and the operation. Secrets never reach a message: EC2 does not echo them, and anything that
 * could (a transport error's text) passes through {@link redact} first.
 */
import { CloudError, describeTransportError, kindForStatus, parseRetryAfter } from '../driver/cloud-error.ts';
import type { CloudErrorKind } from '../driver/cloud-error.ts';

/**
 * EC2 error codes by kind (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 * `InsufficientInstanceCapacity` is `unavailable`, not `rejected`: AWS says capacity comes back
 * within minutes and to try again, and a launch carrying its ClientToken is safe to repeat; a
 * quota (`InstanceLimitExceeded`, `VcpuLimitExceeded`) needs a person and is `rejected`.
 */
const kindsByCode: Readonly<Record<string, CloudErrorKind>> = {
  RequestLimitExceeded: 'throttled',
  Throttling: 'throttled',
  ThrottlingException: 'throttled',
  TooManyRequestsException: 'throttled',
  Unavailable: 'unavailable',
  ServiceUnavailable: 'unavailable',
  InternalError: 'unavailable',
  InternalFailure: 'unavailable',
  InsufficientInstanceCapacity: 'unavailable',
  InsufficientHostCapacity: 'unavailable',
  'InvalidInstanceID.NotFound': 'not-found',
  'InvalidAMIID.NotFound': 'not-found',
  'InvalidAMIID.Unavailable': 'not-found',
  'InvalidInstanceID.Malformed': 'rejected',
  IncorrectInstanceState: 'conflict',
  IncorrectState: 'conflict',
  AuthFailure: 'auth',
  UnauthorizedOperation: 'auth',
  InvalidClientTokenId: 'auth',
  SignatureDoesNotMatch: 'auth',
  ExpiredToken: 'auth',
  RequestExpired: 'auth',
  OptInRequired: 'auth',
  Blocked: 'auth',
  IdempotentParameterMismatch: 'rejected',
  InvalidParameterValue: 'rejected',
  InvalidParameterCombination: 'rejected',
  MissingParameter: 'rejected',
  InstanceLimitExceeded: 'rejected',
  VcpuLimitExceeded: 'rejected',
};

/** The fields of an AWS SDK error Defib reads (the SDK's `ServiceException` and its deserialization errors). */
interface SdkError {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $response?: { readonly statusCode?: number; readonly headers?: Readonly<Record<string, string | undefined>> };
  readonly $responseBodyText?: unknown;
}

/** Who is asking: the cloud for messages, the secrets to keep out of them, the time for `Retry-After` dates. */
export interface Ec2ErrorContext {
  readonly cloud: string;
  readonly secrets: readonly string[];
  readonly now: () => number;
}

/** Replaces every occurrence of the given secrets with `****`. */
export function redact(text: string, secrets: readonly string[]): string {
  return secrets.filter((secret) => secret.length > 0).reduce((redacted, secret) => redacted.replaceAll(secret, '****'), text);
}

/** Where the error came from: an answer of EC2 (with its status), or no usable answer at all. */
function statusOf(error: SdkError): number | undefined {
  return error.$response?.statusCode ?? error.$metadata?.httpStatusCode;
}

/**
 * The CloudError for what `client.send` threw. An EC2 error code decides the kind, else the HTTP
 * status; an answer the SDK could not read (truncated or malformed XML, an HTML error page) is
 * `unavailable`, as is a failure to get an answer at all (whose outcome may be unknown).
 */
export function ec2CloudError(error: unknown, operation: string, context: Ec2ErrorContext): CloudError {
  if (error instanceof CloudError) return error;
  const { cloud, secrets } = context;
  const sdk = (typeof error === 'object' && error !== null ? error : {}) as SdkError;
  const status = statusOf(sdk);
  const cause = safeCause(error, secrets);
  if (status === undefined) {
    const { detail, outcomeUnknown } = describeTransportError(transportView(error));
    return new CloudError('unavailable', cloud, operation, redact(detail, secrets), { outcomeUnknown, ...(cause === undefined ? {} : { cause }) });
  }
  const message = redact(typeof sdk.message === 'string' ? sdk.message : String(error), secrets);
  const code = typeof sdk.name === 'string' && sdk.name !== 'Unknown' && sdk.name !== 'Error' ? sdk.name : undefined;
  const known = code === undefined ? undefined : kindsByCode[code];
  const retryAfterMs = parseRetryAfter(sdk.$response?.headers?.['retry-after'], context.now());
  const options = { status, ...(code === undefined ? {} : { code }), ...(retryAfterMs === undefined ? {} : { retryAfterMs }), ...(cause === undefined ? {} : { cause }) };
  if (code === undefined || (known === undefined && sdk.$fault === undefined)) {
    // No EC2 error document: the SDK could not read the answer (cut short, or an HTML page from a
    // proxy). Whatever the status says, the cloud did not answer as EC2: try again later.
    const said = message === '' || message === 'Unknown' ? '' : `: ${message}`;
    return new CloudError('unavailable', cloud, operation, `unreadable answer (HTTP ${status})${said}`, options);
  }
  return new CloudError(known ?? kindForStatus(status), cloud, operation, `${code}: ${message} (HTTP ${status})`, options);
}

/**
 * The SDK names a reset connection `TimeoutError` (to mark it retryable); describe it by its
 * socket code instead, so a reset reads as a reset and a real timeout as a timeout.
 */
function transportView(error: unknown): unknown {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? { cause: error } : error;
}

/** The error to keep as `cause`, unless its text carries a secret (a cause is logged as readily as a message). */
function safeCause(error: unknown, secrets: readonly string[]): unknown {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (redact(current.message, secrets) !== current.message) return undefined;
  }
  return error;
}
