/**
 * One webhook attempt over HTTP(S): a POST to the addresses vetted by the network policy (the
 * connection never re-resolves the name), redirects not followed, one deadline for the whole
 * exchange. A receiver that hangs, answers garbage or closes the connection yields a failed
 * attempt with a short error that never quotes the receiver's body or the URL (which may hold a
 * token).
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';

export interface WebhookRequest {
  url: URL;
  body: string;
  headers: Readonly<Record<string, string>>;
  /** The only addresses the connection may use (from `vetWebhookTarget`). */
  addresses: readonly string[];
  timeoutMs: number;
}

/** What came of an attempt: an HTTP status (any), or a transport failure. */
export type WebhookResult =
  | { kind: 'response'; status: number; retryAfter: string | undefined; latencyMs: number }
  | { kind: 'error'; error: string; latencyMs: number };

export interface WebhookSender {
  send(request: WebhookRequest): Promise<WebhookResult>;
  /** Closes pooled connections. */
  close(): void;
}

const USER_AGENT = 'Defib-Notifier/0.1 (+https://www.standardwebhooks.com)';
/** Bytes of a response body read (and dropped) so the connection can be reused; beyond that it is cut. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

function pinnedLookup(addresses: readonly string[]): LookupFunction {
  return (_hostname, options, callback) => {
    const entries = addresses.map((address) => ({ address, family: isIP(address) }));
    if (options.all === true) {
      (callback as unknown as (error: null, addresses: { address: string; family: number }[]) => void)(null, entries);
      return;
    }
    const [first] = entries;
    if (first === undefined) callback(Object.assign(new Error('no vetted address'), { code: 'ENOTFOUND' }), '', 0);
    else callback(null, first.address, first.family);
  };
}

/** A transport error in a few words, without URLs or response content. */
export function describeTransportError(error: unknown, timeoutMs: number): string {
  if (error instanceof AttemptTimeout) return `timed out after ${timeoutMs} ms`;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (code.startsWith('HPE_')) return `invalid HTTP response (${code})`;
    switch (code) {
      case 'ECONNREFUSED':
        return 'connection refused';
      case 'ECONNRESET':
        return 'connection closed by the receiver before it answered';
      case 'EPIPE':
        return 'connection closed by the receiver while sending';
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `host not found (${code})`;
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return `receiver unreachable (${code})`;
      default:
        return /^[A-Z0-9_]{2,60}$/.test(code) ? `connection failed (${code})` : 'connection failed';
    }
  }
  if (error instanceof Error && error.message === 'socket hang up') return 'connection closed by the receiver before it answered';
  return 'connection failed';
}

class AttemptTimeout extends Error {
  constructor() {
    super('attempt timed out');
    this.name = 'AttemptTimeout';
  }
}

export function createWebhookSender(options: { maxSockets?: number } = {}): WebhookSender {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64, scheduling: 'lifo' as const };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);

  return {
    send(request) {
      const started = performance.now();
      const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
      return new Promise<WebhookResult>((resolve) => {
        let settled = false;
        const settle = (result: WebhookResult) => {
          if (settled) return;
          settled = true;
          resolve(result);
        };
        const secure = request.url.protocol === 'https:';
        const transport = secure ? https : http;
        const outgoing = transport.request(request.url, {
          method: 'POST',
          agent: secure ? httpsAgent : httpAgent,
          lookup: pinnedLookup(request.addresses),
          headers: {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(request.body)),
            'user-agent': USER_AGENT,
            ...request.headers,
          },
        });
        let timedOut = false;
        const deadline = setTimeout(() => {
          timedOut = true;
          outgoing.destroy(new AttemptTimeout());
        }, request.timeoutMs);
        outgoing.on('error', (error) => {
          clearTimeout(deadline);
          // Whatever the socket says after the deadline, the cause is the deadline.
          settle({ kind: 'error', error: describeTransportError(timedOut ? new AttemptTimeout() : error, request.timeoutMs), latencyMs: elapsed() });
        });
        outgoing.on('response', (response) => {
          const retryAfter = response.headers['retry-after'];
          settle({ kind: 'response', status: response.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, latencyMs: elapsed() });
          // The answer is in; read what follows (within the deadline and a size limit) only to keep the connection usable.
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > DRAIN_LIMIT_BYTES) response.destroy();
          });
          response.on('error', () => undefined);
          response.on('close', () => clearTimeout(deadline));
        });
        outgoing.end(request.body);
      });
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
