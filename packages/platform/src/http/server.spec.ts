import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.ts';
import { startHttpServer } from './server.ts';

describe('startHttpServer', () => {
  it('says which port is taken and which setting moves it, when another process holds the port', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    try {
      await expect(startHttpServer(express(), { port, logger: createLogger({ service: 'test', level: 'silent' }), shutdownGraceMs: 100 })).rejects.toThrow(
        `port ${port} on 127.0.0.1 is already taken by another process; stop it, or set PORT to another port (0 picks a free one)`,
      );
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});
