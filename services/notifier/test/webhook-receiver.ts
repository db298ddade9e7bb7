/**
 * A real webhook receiver on 127.0.0.1 for integration tests. Its signature check is independent
 * of the notifier's code: the `standardwebhooks` package. Each request is answered by a scripted
 * behaviour — a status, a hang, garbage bytes, a redirect, or a closed connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { eventsOfWebhookBody } from '@defib/contracts';
import { Webhook } from 'standardwebhooks';

/** How the receiver answers one request. */
export type Behaviour =
  | { kind: 'status'; status: number; headers?: Record<string, string>; delayMs?: number; body?: string }
  | { kind: 'hang' }
  | { kind: 'garbage' }
  | { kind: 'redirect'; to: string }
  | { kind: 'close' };

export const answer = {
  ok: { kind: 'status', status: 200 } as Behaviour,
  status: (status: number, headers?: Record<string, string>): Behaviour => ({ kind: 'status', status, ...(headers === undefined ? {} : { headers }) }),
  /** `status` with `body` as the answer's text (by default a line the notifier must never store). */
  statusWithBody: (status: number, body: string): Behaviour => ({ kind: 'status', status, body }),
  hang: { kind: 'hang' } as Behaviour,
  garbage: { kind: 'garbage' } as Behaviour,
  redirect: (to: string): Behaviour => ({ kind: 'redirect', to }),
  close: { kind: 'close' } as Behaviour,
};

export interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  receivedAt: number;
  /** When the answer was written (for a status answer); absent while it is still being held. */
  answeredAt?: number;
  /** What the receiver answered. */
  behaviour: Behaviour['kind'];
}

/** An event as a webhook carries it: its id and what it is about. */
export interface CarriedEvent {
  id: string;
  subject: { deployable?: string } & Record<string, unknown>;
}

/** The events a webhook request carried: one event, or a storm-control batch. */
export function eventsOf(request: ReceivedRequest): CarriedEvent[] {
  return eventsOfWebhookBody(request.body).map((event) => ({ id: event.id, subject: event.subject }));
}

/** The ids of the events a webhook request carried. */
export function eventIdsOf(request: ReceivedRequest): string[] {
  return eventsOf(request).map((event) => event.id);
}

/** Requests grouped by `webhook-id`, the delivery they attempt: more than one is a retried delivery. */
export function requestsByWebhookId(requests: readonly ReceivedRequest[]): Map<string, ReceivedRequest[]> {
  const deliveries = new Map<string, ReceivedRequest[]>();
  for (const request of requests) {
    const id = request.headers['webhook-id'] ?? '';
    deliveries.set(id, [...(deliveries.get(id) ?? []), request]);
  }
  return deliveries;
}

export interface WebhookReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** Answers the next requests to `path` in order, then falls back to `otherwise` (200 by default). */
  script(path: string, behaviours: Behaviour[], otherwise?: Behaviour): void;
  /** Verifies a request with `secret` the way a receiver would (standardwebhooks); throws if it does not verify. */
  verify(request: ReceivedRequest, secret: string): unknown;
  /** Whether `request` verifies with `secret`. */
  verifies(request: ReceivedRequest, secret: string): boolean;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const scripts = new Map<string, { queue: Behaviour[]; otherwise: Behaviour }>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const script = scripts.get(request.url ?? '/');
      const behaviour = script?.queue.shift() ?? script?.otherwise ?? answer.ok;
      const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : (value ?? '')]));
      const received: ReceivedRequest = { path: request.url ?? '/', headers, body: Buffer.concat(chunks).toString('utf8'), receivedAt: Date.now(), behaviour: behaviour.kind };
      requests.push(received);
      switch (behaviour.kind) {
        case 'status': {
          const reply = () => {
            received.answeredAt = Date.now();
            response.writeHead(behaviour.status, { 'content-type': 'text/plain', ...behaviour.headers });
            response.end(behaviour.body ?? 'answer body the notifier must never store');
          };
          if (behaviour.delayMs === undefined) reply();
          else setTimeout(reply, behaviour.delayMs);
          return;
        }
        case 'hang':
          return;
        case 'garbage':
          request.socket.end('this is not HTTP at all\r\n\u0000\u0001\r\n\r\n');
          return;
        case 'redirect':
          response.writeHead(307, { location: behaviour.to });
          response.end();
          return;
        case 'close':
          request.socket.destroy();
          return;
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const verify = (request: ReceivedRequest, secret: string) => new Webhook(secret).verify(request.body, request.headers);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script(path, behaviours, otherwise = answer.ok) {
      scripts.set(path, { queue: [...behaviours], otherwise });
    },
    verify,
    verifies(request, secret) {
      try {
        verify(request, secret);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
