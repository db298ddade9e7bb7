import { ConfigError, loadConfig } from '@defib/platform';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cloudConnectionEnvironmentShape, toCloudConnectionConfig } from './config.ts';

const schema = z.object(cloudConnectionEnvironmentShape);

describe('cloud connection config', () => {
  it('finds the registry on its default port and takes the service token', () => {
    expect(toCloudConnectionConfig(loadConfig(schema, { DEFIB_SERVICE_TOKEN: 'service-token-0123456789' }))).toEqual({
      registryUrl: 'http://127.0.0.1:7101',
      serviceToken: 'service-token-0123456789',
    });
  });

  it('requires a service token and an http(s) registry URL', () => {
    let caught: unknown;
    try {
      loadConfig(schema, { DEFIB_REGISTRY_URL: 'amqp://registry' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems.map((problem) => problem.variable).sort()).toEqual(['DEFIB_REGISTRY_URL', 'DEFIB_SERVICE_TOKEN']);
  });
});
