import type { TestProject } from 'vitest/node';
import { processEnvironment } from '@defib/platform';
import { resolveInfrastructure, type Infrastructure } from '@defib/drill';
import { dropAbandonedDatabases } from './abandoned.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    infrastructure: { databaseUrl: string; amqpUrl: string };
  }
}

let infrastructure: Infrastructure | undefined;

export async function setup(project: TestProject): Promise<void> {
  infrastructure = await resolveInfrastructure(processEnvironment());
  await dropAbandonedDatabases(infrastructure.databaseUrl);
  project.provide('infrastructure', { databaseUrl: infrastructure.databaseUrl, amqpUrl: infrastructure.amqpUrl });
}

export async function teardown(): Promise<void> {
  await infrastructure?.stop();
}
