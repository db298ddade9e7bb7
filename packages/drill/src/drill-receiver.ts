/**
 * The drill's own webhook receiver: what a user's endpoint sees of Defib. It verifies every request's
 * Standard Webhooks signature (with the `standardwebhooks` package, independent of the notifier's
 * code), records every delivery attempt by `webhook-id`, and hands each event to the drill the
 * first time it arrives. It can leave a share of first attempts unacknowledged (a 500), chosen by
 * the seeded stream, so the notifier's retries are part of the drill.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventsOfWebhookBody, type DomainEvent } from '@defib/contracts';
import { SeededRandom } from '@defib/platform';
import { Webhook } from 'standardwebhooks';

/** Which subscription a request came through: every event, or the address-change hook. */
export type ReceiverPath = 'events' | 'hook';

/** One request the receiver got. */
export interface ReceivedAttempt {
  path: ReceiverPath;
  webhookId: string;
  receivedAt: number;
  signatureValid: boolean;
  /** Whether the receiver answered 2xx. */
  acknowledged: boolean;
  eventIds: string[];
}

export interface DrillReceiver {
  url: string;
  attempts: ReceivedAttempt[];
  /** Every distinct event received, in arrival order, with the path it came through first. */
  events: { event: DomainEvent; path: ReceiverPath; receivedAt: number }[];
  /** Sets the secret of a path's subscription (from the notifier's answer when it was created). */
  trust(path: ReceiverPath, secret: string): void;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  /** Share of first attempts answered with a 500. */
  unacknowledged: number;
  seed: string;
  onEvent: (event: DomainEvent, path: ReceiverPath) => void;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.once('error', reject);
  });
}

export async function startDrillReceiver(options: ReceiverOptions): Promise<DrillReceiver> {
  const random = new SeededRandom(`${options.seed}:receiver`);
  const secrets = new Map<ReceiverPath, Webhook>();
  const attempts: ReceivedAttempt[] = [];
  const events: DrillReceiver['events'] = [];
  const seenEvents = new Set<string>();
  const seenWebhooks = new Set<string>();

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path: ReceiverPath | undefined = request.url === '/events' ? 'events' : request.url === '/hook' ? 'hook' : undefined;
    const body = await readBody(request);
    if (path === undefined || request.method !== 'POST') {
      response.writeHead(404).end();
      return;
    }
    const headers = Object.fromEntries(Object.entries(request.headers).map(([key, value]) => [key, Array.isArray(value) ? value.join(',') : (value ?? '')]));
    const webhookId = headers['webhook-id'] ?? '';
    let signatureValid = false;
    try {
      secrets.get(path)?.verify(body, headers);
      signatureValid = secrets.has(path);
    } catch {
      signatureValid = false;
    }
    const firstAttempt = !seenWebhooks.has(webhookId);
    seenWebhooks.add(webhookId);
    const acknowledged = !(firstAttempt && options.unacknowledged > 0 && random.next() < options.unacknowledged);
    let carried: DomainEvent[] = [];
    try {
      carried = eventsOfWebhookBody(body);
    } catch {
      carried = [];
    }
    attempts.push({ path, webhookId, receivedAt: Date.now(), signatureValid, acknowledged, eventIds: carried.map((event) => event.id) });
    if (acknowledged && signatureValid) {
      for (const event of carried) {
        const key = `${path}:${event.id}`;
        if (seenEvents.has(key)) continue;
        seenEvents.add(key);
        events.push({ event, path, receivedAt: Date.now() });
        options.onEvent(event, path);
      }
    }
    response.writeHead(acknowledged ? 204 : 500).end();
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(400).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    attempts,
    events,
    trust(path, secret) {
      secrets.set(path, new Webhook(secret));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
