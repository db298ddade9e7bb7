/**
 * Serving an app: listen, and close gracefully — stop accepting, report not-ready, let requests
 * in flight finish within the grace period, then cut whatever is left.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Logger } from '../logger.ts';
import { beginDraining } from './app.ts';

export interface HttpServerOptions {
  readonly port: number;
  /** 127.0.0.1 unless said otherwise. */
  readonly host?: string;
  readonly logger: Logger;
  /** How long `close()` waits for requests in flight before cutting their connections. */
  readonly shutdownGraceMs: number;
}

export interface RunningHttpServer {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  /** Drains and stops; resolves once every connection is gone. Safe to call more than once. */
  close(): Promise<void>;
}

export async function startHttpServer(app: Express, options: HttpServerOptions): Promise<RunningHttpServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer(app);
  const inFlight = new Set<ServerResponse>();
  server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
  });
  await listen(server, options.port, host);
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  options.logger.info({ url }, 'listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      beginDraining(app);
      options.logger.info({ graceMs: options.shutdownGraceMs }, 'closing: draining requests in flight');
      // Connections go idle as their responses finish; close them then instead of waiting for keep-alive to expire.
      const closeIdle = (): void => server.closeIdleConnections();
      const closeWhenDone = (response: ServerResponse): void => {
        if (!response.headersSent) response.setHeader('Connection', 'close');
        response.once('finish', () => setImmediate(closeIdle));
      };
      for (const response of inFlight) closeWhenDone(response);
      server.on('request', (_request: IncomingMessage, response: ServerResponse) => closeWhenDone(response));
      const deadline = setTimeout(() => {
        options.logger.warn('grace period over: closing the connections left');
        server.closeAllConnections();
      }, options.shutdownGraceMs);
      server.close(() => {
        clearTimeout(deadline);
        options.logger.info('closed');
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };

  return { url, port, close };
}

/** A port another process holds: says which, and which setting moves it. */
export class PortTakenError extends Error {
  constructor(host: string, port: number, cause: Error) {
    super(`port ${port} on ${host} is already taken by another process; stop it, or set PORT to another port (0 picks a free one)`, { cause });
    this.name = 'PortTakenError';
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => reject(error.code === 'EADDRINUSE' ? new PortTakenError(host, port, error) : error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
