import { ConfigError } from '@defib/platform';
import { describe, expect, it } from 'vitest';
import { loadSimulatorConfig } from './config.ts';

describe('simulator configuration', () => {
  it('listens on 7200 with an open control API by default', () => {
    const config = loadSimulatorConfig({});
    expect(config).toMatchObject({ port: 7200, host: '127.0.0.1', seed: 'defib', speedFactor: 1, agentConnections: 2, bodyLimitBytes: 1_048_576, shutdownGraceMs: 10_000 });
    expect(config.auth).toEqual({ adminToken: undefined, readTokens: [], openReads: false });
  });

  it('takes the shared token variables', () => {
    const config = loadSimulatorConfig({ DEFIB_ADMIN_TOKEN: 'admin-token-0123456789', DEFIB_READ_TOKENS: 'reader-token-0123456789, other-reader-0123456789', DEFIB_OPEN_READS: 'true' });
    expect(config.auth).toEqual({ adminToken: 'admin-token-0123456789', readTokens: ['reader-token-0123456789', 'other-reader-0123456789'], openReads: true });
  });

  it('reports every bad variable at once', () => {
    const load = (): unknown => loadSimulatorConfig({ DEFIB_ADMIN_TOKEN: 'short', SIM_SPEED_FACTOR: '0', PORT: 'http' });
    expect(load).toThrow(ConfigError);
    try {
      load();
    } catch (error) {
      expect((error as ConfigError).problems.map((problem) => problem.variable).sort()).toEqual(['DEFIB_ADMIN_TOKEN', 'PORT', 'SIM_SPEED_FACTOR']);
    }
  });
});
