/**
 * OpenStack's error answers as {@link CloudError}s. Each service words its errors its own way:
 * Nova `{"itemNotFound": {"message": "…", "code": 404}}` (one key naming the fault), Keystone
 * `{"error": {"code": 401, "title": "Unauthorized", "message": "…"}}`, Neutron
 * `{"NeutronError": {"type": "…", "message": "…"}}`, Glance mostly an HTML or plain-text page.
 * The provider's words go into the error's detail, with every secret (password, token) redacted.
 */
import { CloudError, kindForStatus, parseRetryAfter, type CloudErrorKind } from '../driver/cloud-error.ts';

/** The provider's code and message, read from whichever shape the service used. */
export interface OpenstackFault {
  readonly code?: string;
  readonly message: string;
  /** Nova's `overLimit.retryAfter`, in seconds as the service wrote it. */
  readonly retryAfter?: string;
}

const longestDetail = 300;

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number') return String(value);
  return undefined;
}

/** Plain words from an HTML or text error page: tags dropped, whitespace collapsed, cut short. */
function plainText(body: string): string {
  const words = body
    .replace(/<title>.*?<\/title>/is, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return words.length > longestDetail ? `${words.slice(0, longestDetail)}…` : words;
}

/** The fault an error answer's body describes, whatever the service's format. */
export function readFault(body: string): OpenstackFault | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const words = plainText(body);
    return words === '' ? undefined : { message: words };
  }
  const document = asRecord(parsed);
  if (!document) return undefined;
  const keystone = asRecord(document.error);
  if (keystone) {
    const message = text(keystone.message) ?? text(keystone.title) ?? 'no message';
    const code = text(keystone.title);
    return code === undefined ? { message } : { code, message };
  }
  const neutron = asRecord(document.NeutronError);
  if (neutron) {
    const message = text(neutron.message) ?? 'no message';
    const code = text(neutron.type);
    return code === undefined ? { message } : { code, message };
  }
  // Nova (and Glance when it answers JSON): one key naming the fault.
  for (const [key, value] of Object.entries(document)) {
    const fault = asRecord(value);
    const message = fault && (text(fault.message) ?? text(fault.explanation));
    if (fault && message !== undefined) {
      const retryAfter = text(fault.retryAfter);
      return retryAfter === undefined ? { code: key, message } : { code: key, message, retryAfter };
    }
  }
  const message = text(document.message) ?? text(document.detail);
  return message === undefined ? undefined : { message };
}

/** `detail` with every secret replaced, so no password or token ever reaches a message or log. */
export function redact(detail: string, secrets: readonly string[]): string {
  let redacted = detail;
  for (const secret of secrets) {
    if (secret.length >= 4) redacted = redacted.split(secret).join('[redacted]');
  }
  return redacted;
}

/** An HTTP error answer of an OpenStack service. */
export interface ErrorAnswer {
  readonly cloud: string;
  readonly operation: string;
  /** What was asked, for the detail: `GET /servers/detail`. */
  readonly request: string;
  readonly status: number;
  readonly retryAfterHeader: string | null;
  readonly body: string;
  readonly now: number;
  readonly secrets: readonly string[];
  /** Whether the request may have taken effect although it failed (a create answered with a 500). */
  readonly outcomeUnknown?: boolean;
}

function kindOf(status: number, fault: OpenstackFault | undefined, retryAfterMs: number | undefined): CloudErrorKind {
  // Nova answers 413 for a rate limit (with retryAfter) and for a request too large (without).
  if (status === 413) return retryAfterMs === undefined ? 'rejected' : 'throttled';
  // Nova answers an exhausted quota with 403: a refusal of the request, not of the credentials.
  if (status === 403 && fault && /quota|limit exceeded/i.test(fault.message)) return 'rejected';
  return kindForStatus(status);
}

/** The CloudError for an error answer, with the provider's code and words in its detail. */
export function errorFromAnswer(answer: ErrorAnswer): CloudError {
  const fault = readFault(answer.body);
  const retryAfterMs = parseRetryAfter(answer.retryAfterHeader, answer.now) ?? (fault?.retryAfter === undefined ? undefined : parseRetryAfter(fault.retryAfter, answer.now));
  const kind = kindOf(answer.status, fault, retryAfterMs);
  const words = fault ? `${fault.code === undefined ? '' : `${fault.code}: `}${fault.message}` : 'no explanation given';
  const detail = redact(`${answer.request} answered ${answer.status} (${words})`, answer.secrets);
  return new CloudError(kind, answer.cloud, answer.operation, detail, {
    status: answer.status,
    ...(fault?.code === undefined ? {} : { code: fault.code }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    outcomeUnknown: answer.outcomeUnknown ?? false,
  });
}

/** The CloudError for a success answer whose body is not the JSON it should be (cut short, or a proxy's page). */
export function malformedAnswer(cloud: string, operation: string, request: string, problem: string, cause?: unknown): CloudError {
  // The request was processed: whether a create took effect is unknown.
  return new CloudError('unavailable', cloud, operation, `${request} answered with a malformed body (${problem})`, { outcomeUnknown: true, cause });
}
